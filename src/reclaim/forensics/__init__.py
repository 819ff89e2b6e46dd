"""Forensics: what an item shows about how it was made — what the file declares (metadata, C2PA),
invisible AI watermarks, a face copied from a kept reference photo, and pixel indicators of editing.

Each reader returns a :class:`reclaim.forensics.base.ForensicResult` (what it saw, how strong, its known
false-positive causes); the signal types that run them are registered in ``reclaim.forensics.passes``.
"""
