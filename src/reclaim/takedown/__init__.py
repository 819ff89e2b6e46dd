"""Takedown notices: the platform registry (:mod:`~reclaim.takedown.platforms`), drafting
(:mod:`~reclaim.takedown.drafting`, words from :mod:`~reclaim.takedown.rendering` and
:mod:`~reclaim.takedown.templates`), status and tracking (:mod:`~reclaim.takedown.status`), sending by
e-mail (:mod:`~reclaim.takedown.sending`) and re-upload follow-ups (:mod:`~reclaim.takedown.reupload`)."""

from reclaim.takedown.platforms import PLATFORMS, PLATFORMS_BY_NAME, Platform, all_platforms, get_platform

__all__ = ["PLATFORMS", "PLATFORMS_BY_NAME", "Platform", "all_platforms", "get_platform"]
