"""Error types. Each maps to a CLI exit code: user error 2, external dependency 3."""

from __future__ import annotations


class ReclaimError(Exception):
    """Base class for errors reclaim reports to the user."""

    exit_code = 1


class UserError(ReclaimError):
    """The user asked for something that cannot be done (bad path, bad argument, wrong passphrase)."""

    exit_code = 2


class WrongPassphrase(UserError):
    """The vault key could not be unwrapped with the given passphrase."""


class NotFound(UserError):
    """A named object (person, match) does not exist."""


class DependencyError(ReclaimError):
    """An external dependency (model files, codec, database server) failed."""

    exit_code = 3


class MediaError(ReclaimError):
    """One media file could not be decoded safely. Reported per item; never aborts a scan."""

    exit_code = 2


class LimitExceeded(MediaError):
    """A media file exceeds a configured limit (pixels, frames, bytes): a decompression bomb or too large."""


class SourceError(ReclaimError):
    """One entry of a source (a message, a path) is unusable. Reported per entry; never aborts a scan."""

    exit_code = 2
