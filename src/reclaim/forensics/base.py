"""What a forensic signal reports: what it saw, how strong that is, and what it cannot know.

Every forensic reader (declarations, C2PA, invisible watermarks, pixel indicators, source-photo match)
returns a :class:`ForensicResult`. There is deliberately no blended "fake probability": each result
stands on its own, with its own strength and its own caveats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Strength = Literal["strong", "moderate", "weak", "none"]
"""How strongly the result points to generation or editing. "none" = no evidence either way (which
never means the image is authentic)."""

STRENGTHS: tuple[Strength, ...] = ("strong", "moderate", "weak", "none")


@dataclass
class ForensicResult:
    signal: str
    """The signal type's stable name (e.g. "c2pa", "sd-watermark")."""
    verdict: str
    """A short machine code for what was found, e.g. "ai_declared", "no_manifest", "no_evidence"."""
    strength: Strength
    summary: str
    """One or two honest English sentences: what was seen and how sure it is. Never "real"/"authentic"."""
    detail: dict[str, Any] = field(default_factory=dict)
    """JSON-safe numbers and codes behind the summary (no image bytes, no face vectors)."""
    caveats: list[str] = field(default_factory=list)
    """Known false-positive causes and limits, in plain English."""
    error: str | None = None
    """Set when the signal could not run on this item (the reason); the verdict is then "error"."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "verdict": self.verdict,
            "strength": self.strength,
            "summary": self.summary,
            "detail": self.detail,
            "caveats": list(self.caveats),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForensicResult:
        strength = data.get("strength", "none")
        if strength not in STRENGTHS:
            raise ValueError(f"unknown strength {strength!r}")
        return cls(
            signal=str(data["signal"]),
            verdict=str(data["verdict"]),
            strength=strength,
            summary=str(data.get("summary", "")),
            detail=dict(data.get("detail") or {}),
            caveats=[str(c) for c in data.get("caveats") or []],
            error=data.get("error"),
        )
