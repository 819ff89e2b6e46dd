"""Takedown notices: the platform registry, drafting, sending (e-mail routes only) and tracking."""

from reclaim.takedown.platforms import Platform, all_platforms, get_platform, register

__all__ = ["Platform", "all_platforms", "get_platform", "register"]
