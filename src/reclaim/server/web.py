"""The server-rendered web UI: filled in by its module owner."""

from __future__ import annotations

from fastapi import FastAPI


def include(app: FastAPI) -> None:
    """Adds no route yet."""
