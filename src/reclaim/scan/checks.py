"""Post-scan checks: what a layer above the scan (takedown's re-upload check) runs over what a scan
added, passed in by the scan's caller. Kept apart from reclaim.scan.service so that a check's module can
name these types without importing the scan's machinery."""

from __future__ import annotations

from typing import Protocol, TypedDict

from sqlalchemy.orm import Session


class CheckCounts(TypedDict, total=False):
    """What a :class:`PostScanCheck` adds to the report's counters."""

    reuploads: int
    follow_ups: int


class PostScanCheck(Protocol):
    """A check over what a scan added, run once its items are written and counted (e.g.
    :class:`reclaim.takedown.reupload.ReuploadCheck`). It may write through ``session`` and logs its
    own events; the scan commits after it. An exception it raises is rolled back and becomes a scan
    error under :attr:`label`; the scan still finishes and keeps its items (a rescan repeats the
    check)."""

    @property
    def label(self) -> str:
        """Where its failure is reported among the scan's errors (e.g. "re-upload check")."""
        ...

    def __call__(self, session: Session, scan_id: int) -> CheckCounts: ...
