"""Encryption at rest.

A random 256-bit *data key* encrypts media and face templates with AES-256-GCM. The data key is stored
only wrapped (AES-256-GCM) by a key derived from the user's passphrase with scrypt. A wrong passphrase
fails authentication of the wrapped key and is reported as such; it can never yield a wrong key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from reclaim.errors import UserError, WrongPassphrase

KEYRING_VERSION = 1
_NONCE = 12
_BLOB_MAGIC = b"RCLM\x01"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


@dataclass(frozen=True)
class DataKey:
    """The unwrapped data key. Never logged, never written in the clear."""

    key: bytes
    _aead: AESGCM = field(init=False, repr=False, compare=False)
    """One cipher object per key (field encryption calls this for every stored word)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_aead", AESGCM(self.key))

    def __reduce__(self) -> tuple[type[DataKey], tuple[bytes]]:  # the cipher object is rebuilt, not pickled
        return (DataKey, (self.key,))

    def __repr__(self) -> str:  # keep keys out of tracebacks and logs
        return "DataKey(<redacted>)"

    def encrypt(self, plaintext: bytes, *, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return _BLOB_MAGIC + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, *, aad: bytes) -> bytes:
        if not blob.startswith(_BLOB_MAGIC) or len(blob) < len(_BLOB_MAGIC) + _NONCE + 16:
            raise ValueError("not a reclaim ciphertext")
        nonce = blob[len(_BLOB_MAGIC) : len(_BLOB_MAGIC) + _NONCE]
        try:
            return self._aead.decrypt(nonce, blob[len(_BLOB_MAGIC) + _NONCE :], aad)
        except InvalidTag as exc:
            raise ValueError("ciphertext failed authentication (tampered or wrong key)") from exc

    def blind(self, label: str, value: str) -> str:
        """A keyed hash (HMAC-SHA256) used to name stored blobs so the vault's file names do not reveal
        which well-known images it holds."""
        return hmac.new(self.key, f"{label}:{value}".encode(), hashlib.sha256).hexdigest()


def template_aad(kind: str, owner: str) -> bytes:
    """The associated data that binds an encrypted face vector to what it belongs to (``kind`` "face"
    with the item id, "template" with the template id): a vector copied to another row fails to decrypt."""
    return f"reclaim-face:{kind}:{owner}".encode()


def encrypt_vector(key: DataKey, vector: bytes, *, kind: str, owner: str) -> bytes:
    """Encrypt a face vector (float32 bytes) for storage; see :func:`template_aad`."""
    return key.encrypt(vector, aad=template_aad(kind, owner))


def decrypt_vector(key: DataKey, blob: bytes, *, kind: str, owner: str) -> np.ndarray:
    """The float32 face vector of an :func:`encrypt_vector` blob. Raises ValueError when it does not
    authenticate."""
    return np.frombuffer(key.decrypt(blob, aad=template_aad(kind, owner)), dtype=np.float32)


def create_keyring(path: Path, passphrase: str, *, scrypt_n: int = 2**15) -> DataKey:
    """Create a new data key, wrap it with ``passphrase`` and write the keyring file (mode 0600)."""
    if not passphrase:
        raise UserError("an empty passphrase is not allowed")
    if path.exists():
        raise UserError(f"a keyring already exists at {path}")
    data_key = secrets.token_bytes(32)
    salt = secrets.token_bytes(16)
    r, p = 8, 1
    kek = _derive(passphrase, salt, scrypt_n, r, p)
    nonce = secrets.token_bytes(_NONCE)
    wrapped = AESGCM(kek).encrypt(nonce, data_key, b"reclaim-keyring-v1")
    doc = {
        "version": KEYRING_VERSION,
        "kdf": {"name": "scrypt", "n": scrypt_n, "r": r, "p": p, "salt": _b64(salt)},
        "wrap": {"alg": "AES-256-GCM", "nonce": _b64(nonce), "wrapped_key": _b64(wrapped)},
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return DataKey(data_key)


def open_keyring(path: Path, passphrase: str) -> DataKey:
    """Unwrap the data key. Raises :class:`WrongPassphrase` when the passphrase does not fit."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        kdf, wrap = doc["kdf"], doc["wrap"]
        if doc.get("version") != KEYRING_VERSION or kdf["name"] != "scrypt":
            raise UserError(f"unsupported keyring format in {path}")
        kek = _derive(passphrase, _unb64(kdf["salt"]), int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
        nonce, wrapped = _unb64(wrap["nonce"]), _unb64(wrap["wrapped_key"])
    except FileNotFoundError as exc:
        raise UserError(f"no keyring at {path}: run 'reclaim init' first") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"the keyring at {path} is damaged: {exc}") from exc
    try:
        return DataKey(AESGCM(kek).decrypt(nonce, wrapped, b"reclaim-keyring-v1"))
    except InvalidTag as exc:
        raise WrongPassphrase("wrong passphrase: the workspace key could not be unlocked") from exc
