"""Content-addressed, encrypted media store.

Each blob is stored once, named by a keyed hash of its SHA-256 (so file names reveal nothing), and
encrypted with AES-256-GCM bound to that SHA-256. Writes are atomic (temp file + rename), so a crash
never leaves a half-written blob under a real name.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path

from reclaim.store.crypto import DataKey


class Vault:
    STALE_TMP_SECONDS = 3600

    def __init__(self, root: Path, key: DataKey) -> None:
        self.root = root
        self._key = key

    def sweep(self) -> int:
        """Remove temp files an interrupted write left behind (ciphertext, but clutter). Only old ones:
        a fresh temp file may belong to a scan running in another process."""
        removed = 0
        cutoff = time.time() - self.STALE_TMP_SECONDS
        for tmp in self.root.glob("*/.*.tmp"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def _path(self, sha256: str) -> Path:
        name = self._key.blind("blob", sha256)
        return self.root / name[:2] / name

    def has(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def put(self, data: bytes, sha256: str | None = None) -> str:
        """Store ``data``; returns its SHA-256 hex. Idempotent."""
        digest = sha256 or hashlib.sha256(data).hexdigest()
        target = self._path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        blob = self._key.encrypt(data, aad=digest.encode())
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        return digest

    def get(self, sha256: str) -> bytes:
        blob = self._path(sha256).read_bytes()
        data = self._key.decrypt(blob, aad=sha256.encode())
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"vault blob for {sha256[:12]}… does not match its hash")
        return data

    def delete(self, sha256: str) -> bool:
        path = self._path(sha256)
        if path.exists():
            path.unlink()
            return True
        return False
