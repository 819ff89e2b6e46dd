"""Takedown notices: the platform registry, drafting, sending (e-mail routes only) and tracking."""

from reclaim.takedown.platforms import PLATFORMS, PLATFORMS_BY_NAME, Platform, all_platforms, get_platform

__all__ = ["PLATFORMS", "PLATFORMS_BY_NAME", "Platform", "all_platforms", "get_platform"]
