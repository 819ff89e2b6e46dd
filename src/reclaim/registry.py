"""One registry idiom for every extension point (sources, hash signal types, forensic signal types, face
models, platforms): the types are listed in a tuple, in the order the code uses them, and found by name in
a dict that :func:`by_name` builds and checks (names are stored in the database and in evidence packages,
so two types may never share one)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


def by_name(types: Iterable[T], *, what: str) -> dict[str, T]:
    """``{type.name: type}``; raises ValueError naming the clash when two types share a name."""
    out: dict[str, T] = {}
    for t in types:
        if t.name in out:
            raise ValueError(f"{what} name {t.name!r} is already registered")
        out[t.name] = t
    return out
