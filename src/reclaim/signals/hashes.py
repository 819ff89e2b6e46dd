"""Cryptographic hashes of the file bytes: exact-copy identity, matched by equality."""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar

from reclaim.signals.base import BytesHasher, SignalValue
from reclaim.signals.index import ExactIndex, HashIndex


class Sha256Signal(BytesHasher):
    name: ClassVar[str] = "sha256"
    description: ClassVar[str] = (
        "SHA-256 of the file bytes: identifies this exact file; any re-encoding changes it."
    )
    index: ClassVar[type[HashIndex]] = ExactIndex
    _re = re.compile(r"^[0-9a-f]{64}$")

    @classmethod
    def validate(cls, value: str) -> str:
        v = value.strip().lower()
        if not cls._re.match(v):
            raise ValueError("a SHA-256 is 64 hex digits")
        return v

    @classmethod
    def hash_bytes(cls, data: bytes) -> SignalValue:
        return SignalValue(cls.name, hashlib.sha256(data).hexdigest())


class Md5Signal(BytesHasher):
    name: ClassVar[str] = "md5"
    description: ClassVar[str] = (
        "MD5 of the file bytes: for exchange with hash lists that still use it (StopNCII-era, NCMEC); "
        "weak against deliberate collisions, so never the only identity."
    )
    index: ClassVar[type[HashIndex]] = ExactIndex
    _re = re.compile(r"^[0-9a-f]{32}$")

    @classmethod
    def validate(cls, value: str) -> str:
        v = value.strip().lower()
        if not cls._re.match(v):
            raise ValueError("an MD5 hash is 32 hex digits")
        return v

    @classmethod
    def hash_bytes(cls, data: bytes) -> SignalValue:
        return SignalValue(cls.name, hashlib.md5(data, usedforsecurity=False).hexdigest())
