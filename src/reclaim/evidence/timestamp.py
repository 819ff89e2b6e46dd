"""Trusted timestamps (RFC 3161) for the head of the custody log.

A Time-Stamping Authority (TSA) signs "this SHA-256 digest existed at time T". Timestamping the custody
log's head hash anchors the whole chain before it in time, with a signature that does not depend on the
workspace's own key. Reclaim never contacts a TSA by itself: :func:`timestamp_head` runs only when the user
asks for it, with a URL the user gives (there is no default TSA).

Tokens are stored as DER files under ``<workspace>/timestamps/<event_id>-<token_sha256[:16]>.tsr`` (public
data, not secret) and recorded by a ``custody.timestamped`` event.

The ASN.1 needed here (TimeStampReq/Resp, CMS SignedData, TSTInfo) is read with a small strict DER reader
below (definite lengths, bounds checked), so no extra dependency is needed; certificates and signatures are
handled by ``cryptography``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import select

from reclaim.custody import read_log
from reclaim.errors import DependencyError, ReclaimError, UserError
from reclaim.events import EventKind, log_event, subject
from reclaim.store.models import Event

if TYPE_CHECKING:
    from reclaim.workspace import Workspace

TIMESTAMPS_DIR = "timestamps"
MAX_RESPONSE_BYTES = 1 << 20
_TOKEN_NAME = re.compile(r"^(\d+)-([0-9a-f]{16})\.tsr$")


class TimestampError(ReclaimError):
    """A timestamp token does not verify, or does not say what it should."""

    exit_code = 2


@dataclass(frozen=True)
class TimestampInfo:
    """What a verified token attests."""

    gen_time: datetime
    """When the TSA says it saw the digest (UTC)."""
    serial: int
    tsa_name: str
    """The signer certificate's subject (RFC 4514)."""
    policy: str
    signer_cert_sha256: str
    nonce: int | None = None


# --- OIDs -------------------------------------------------------------------------------------------------

_OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
_OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_OID_SIGNING_CERT = "1.2.840.113549.1.9.16.2.12"
_OID_SIGNING_CERT_V2 = "1.2.840.113549.1.9.16.2.47"
_OID_SHA256 = "2.16.840.1.101.3.4.2.1"

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1.3.14.3.2.26": hashes.SHA1,  # only accepted to identify a certificate (ESSCertID), never for signing
    "2.16.840.1.101.3.4.2.4": hashes.SHA224,
    _OID_SHA256: hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
_RSA_PKCS1: dict[str, Callable[[], hashes.HashAlgorithm] | None] = {
    "1.2.840.113549.1.1.1": None,  # rsaEncryption: the hash is the SignerInfo's digestAlgorithm
    "1.2.840.113549.1.1.14": hashes.SHA224,
    "1.2.840.113549.1.1.11": hashes.SHA256,
    "1.2.840.113549.1.1.12": hashes.SHA384,
    "1.2.840.113549.1.1.13": hashes.SHA512,
}
_ECDSA: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1.2.840.10045.4.3.1": hashes.SHA224,
    "1.2.840.10045.4.3.2": hashes.SHA256,
    "1.2.840.10045.4.3.3": hashes.SHA384,
    "1.2.840.10045.4.3.4": hashes.SHA512,
}
_ED25519 = "1.3.101.112"

_PKI_STATUS = {
    0: "granted",
    1: "granted with modifications",
    2: "rejection",
    3: "waiting",
    4: "revocation warning",
    5: "revocation notification",
}
_FAIL_INFO = {
    0: "badAlg",
    2: "badRequest",
    5: "badDataFormat",
    14: "timeNotAvailable",
    15: "unacceptedPolicy",
    16: "unacceptedExtension",
    17: "addInfoNotAvailable",
    25: "systemFailure",
}


# --- a minimal strict DER reader/writer -------------------------------------------------------------------


class _DerError(ValueError):
    pass


@dataclass(frozen=True)
class _TLV:
    tag: int
    value: bytes
    raw: bytes

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def children(self) -> list[_TLV]:
        if not self.constructed:
            raise _DerError(f"tag 0x{self.tag:02x} is not constructed")
        out: list[_TLV] = []
        pos = 0
        while pos < len(self.value):
            tlv, pos = _read_tlv(self.value, pos)
            out.append(tlv)
        return out


def _read_tlv(data: bytes, pos: int) -> tuple[_TLV, int]:
    start = pos
    if pos + 2 > len(data):
        raise _DerError("truncated")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _DerError("high tag numbers are not supported")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise _DerError("indefinite length is not DER")
    else:
        n = first & 0x7F
        if n > 4 or pos + n > len(data):
            raise _DerError("bad length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    end = pos + length
    if end > len(data):
        raise _DerError("truncated")
    return _TLV(tag, data[pos:end], data[start:end]), end


def _parse(data: bytes) -> _TLV:
    tlv, end = _read_tlv(data, 0)
    if end != len(data):
        raise _DerError("trailing data after the DER value")
    return tlv


def _expect(tlv: _TLV, tag: int, what: str) -> _TLV:
    if tlv.tag != tag:
        raise _DerError(f"{what}: expected tag 0x{tag:02x}, found 0x{tlv.tag:02x}")
    return tlv


def _seq(tlv: _TLV, what: str) -> list[_TLV]:
    return _expect(tlv, 0x30, what).children()


def _int(tlv: _TLV, what: str) -> int:
    _expect(tlv, 0x02, what)
    if not tlv.value:
        raise _DerError(f"{what}: empty integer")
    return int.from_bytes(tlv.value, "big", signed=True)


def _oid(tlv: _TLV, what: str) -> str:
    _expect(tlv, 0x06, what)
    arcs: list[int] = []
    val = 0
    for b in tlv.value:
        val = (val << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(val)
            val = 0
    if not arcs or tlv.value[-1] & 0x80:
        raise _DerError(f"{what}: malformed object identifier")
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def _octets(tlv: _TLV, what: str) -> bytes:
    return _expect(tlv, 0x04, what).value


def _alg(tlv: _TLV, what: str) -> str:
    return _oid(_seq(tlv, what)[0], what)


def _gentime(tlv: _TLV) -> datetime:
    _expect(tlv, 0x18, "genTime")
    text = tlv.value.decode("ascii", "replace")
    m = re.fullmatch(r"(\d{14})(?:\.(\d{1,6})\d*)?Z", text)
    if not m:
        raise _DerError(f"genTime {text!r} is not a UTC GeneralizedTime")
    base = datetime.strptime(m.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    micro = int((m.group(2) or "0").ljust(6, "0"))
    return base.replace(microsecond=micro)


def _enc(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _enc_int(value: int) -> bytes:
    return _enc(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


_SHA256_ALG_DER = _enc(0x30, bytes.fromhex("0609608648016503040201") + b"\x05\x00")


# --- request ----------------------------------------------------------------------------------------------


def build_request(digest: bytes, *, nonce: int | None = None) -> bytes:
    """A DER TimeStampReq for a SHA-256 ``digest``: version 1, certReq TRUE and a nonce (random 64-bit
    unless given)."""
    if len(digest) != 32:
        raise UserError(f"a SHA-256 digest has 32 bytes, not {len(digest)}")
    if nonce is None:
        nonce = secrets.randbits(64)
    if nonce < 0:
        raise UserError("the nonce must not be negative")
    imprint = _enc(0x30, _SHA256_ALG_DER + _enc(0x04, digest))
    return _enc(0x30, _enc_int(1) + imprint + _enc_int(nonce) + b"\x01\x01\xff")


def _check_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(f"the TSA URL must be an http:// or https:// URL, not {url!r}")


def request_token(url: str, digest: bytes, *, timeout: float = 20.0) -> bytes:
    """Ask the TSA at ``url`` to timestamp the SHA-256 ``digest``; returns the token (a DER CMS
    ContentInfo). The only network call in this module; callers make it only on the user's request.
    Checks the TSA's status and that the token answers this request (nonce, imprint); the signature is
    checked by :func:`verify_token`."""
    _check_url(url)
    nonce = secrets.randbits(64)
    body = build_request(digest, nonce=nonce)
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/timestamp-query", "Accept": "application/timestamp-reply"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            ctype = resp.headers.get("Content-Type", "")
            data = resp.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DependencyError(f"the TSA at {url} answered HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DependencyError(f"cannot reach the TSA at {url}: {reason}") from exc
    if len(data) > MAX_RESPONSE_BYTES:
        raise DependencyError(f"the TSA at {url} sent more than {MAX_RESPONSE_BYTES} bytes")
    token = _token_from_response(data, url, ctype)
    try:
        tst = _parse_token(token).tst
    except (_DerError, IndexError) as exc:
        raise DependencyError(f"the TSA at {url} sent a malformed token: {exc}") from exc
    if tst.nonce != nonce:
        raise TimestampError(f"the token from {url} does not answer this request (the nonce differs)")
    if tst.imprint_alg != _OID_SHA256 or tst.imprint != digest:
        raise TimestampError(f"the token from {url} is for a different hash than the one requested")
    return token


def _token_from_response(data: bytes, url: str, ctype: str) -> bytes:
    try:
        fields = _seq(_parse(data), "TimeStampResp")
        status_fields = _seq(fields[0], "PKIStatusInfo")
        status = _int(status_fields[0], "PKIStatus")
        texts: list[str] = []
        fail: list[str] = []
        for f in status_fields[1:]:
            if f.tag == 0x30:
                texts += [t.value.decode("utf-8", "replace") for t in f.children()]
            elif f.tag == 0x03 and f.value:
                bits = int.from_bytes(f.value[1:], "big") if len(f.value) > 1 else 0
                nbits = 8 * (len(f.value) - 1)
                fail += [_FAIL_INFO.get(i, f"bit {i}") for i in range(nbits) if bits >> (nbits - 1 - i) & 1]
    except (_DerError, IndexError) as exc:
        hint = f" (content type {ctype!r})" if ctype else ""
        raise DependencyError(f"the TSA at {url} sent a malformed response{hint}: {exc}") from exc
    if status not in (0, 1):
        detail = "; ".join(texts + fail) or "no reason given"
        name = _PKI_STATUS.get(status, f"status {status}")
        raise DependencyError(f"the TSA at {url} refused the request ({name}): {detail}")
    if len(fields) < 2:
        raise DependencyError(f"the TSA at {url} granted the request but sent no token")
    return fields[1].raw


# --- verification -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TST:
    policy: str
    imprint_alg: str
    imprint: bytes
    serial: int
    gen_time: datetime
    nonce: int | None


@dataclass(frozen=True)
class _Token:
    tst: _TST
    tst_der: bytes
    econtent_type: str
    certs: list[bytes]
    sid: _TLV
    digest_alg: str
    signed_attrs: _TLV | None
    sig_alg: str
    signature: bytes


def _parse_tst(der: bytes) -> _TST:
    f = _seq(_parse(der), "TSTInfo")
    if _int(f[0], "TSTInfo version") != 1:
        raise _DerError("TSTInfo version is not 1")
    imprint = _seq(f[2], "messageImprint")
    nonce: int | None = None
    for extra in f[5:]:
        if extra.tag == 0x02:
            nonce = _int(extra, "nonce")
    return _TST(
        policy=_oid(f[1], "policy"),
        imprint_alg=_alg(imprint[0], "messageImprint algorithm"),
        imprint=_octets(imprint[1], "hashedMessage"),
        serial=_int(f[3], "serialNumber"),
        gen_time=_gentime(f[4]),
        nonce=nonce,
    )


def _parse_token(token: bytes) -> _Token:
    ci = _seq(_parse(token), "ContentInfo")
    if _oid(ci[0], "contentType") != _OID_SIGNED_DATA:
        raise _DerError("the token is not a CMS SignedData")
    sd = _seq(_expect(ci[1], 0xA0, "content").children()[0], "SignedData")
    encap = _seq(sd[2], "encapContentInfo")
    econtent_type = _oid(encap[0], "eContentType")
    tst_der = _octets(_expect(encap[1], 0xA0, "eContent").children()[0], "eContent")
    certs: list[bytes] = []
    idx = 3
    while idx < len(sd) and sd[idx].tag in (0xA0, 0xA1):
        if sd[idx].tag == 0xA0:
            certs = [c.raw for c in sd[idx].children() if c.tag == 0x30]
        idx += 1
    signer_infos = _expect(sd[idx], 0x31, "signerInfos").children()
    if len(signer_infos) != 1:
        raise _DerError(f"expected one signer, found {len(signer_infos)}")
    si = _seq(signer_infos[0], "SignerInfo")
    pos = 3
    signed_attrs: _TLV | None = None
    if si[pos].tag == 0xA0:
        signed_attrs = si[pos]
        pos += 1
    return _Token(
        tst=_parse_tst(tst_der),
        tst_der=tst_der,
        econtent_type=econtent_type,
        certs=certs,
        sid=si[1],
        digest_alg=_alg(si[2], "digestAlgorithm"),
        signed_attrs=signed_attrs,
        sig_alg=_alg(si[pos], "signatureAlgorithm"),
        signature=_octets(si[pos + 1], "signature"),
    )


def _hash(alg_oid: str, data: bytes, *, allow_sha1: bool = False) -> bytes:
    cls = _HASHES.get(alg_oid)
    if cls is None or (cls is hashes.SHA1 and not allow_sha1):
        raise TimestampError(f"unsupported digest algorithm {alg_oid}")
    h = hashes.Hash(cls())
    h.update(data)
    return h.finalize()


def _issuer_and_serial(cert_der: bytes) -> tuple[bytes, int]:
    tbs = _seq(_seq(_parse(cert_der), "Certificate")[0], "tbsCertificate")
    i = 1 if tbs[0].tag == 0xA0 else 0
    return tbs[i + 2].raw, _int(tbs[i], "serialNumber")


def _find_signer(tok: _Token, candidates: list[bytes]) -> bytes:
    if tok.sid.tag == 0x30:
        issuer, serial = _seq(tok.sid, "IssuerAndSerialNumber")
        want = (issuer.raw, _int(serial, "serialNumber"))
        for der in candidates:
            if _issuer_and_serial(der) == want:
                return der
    elif tok.sid.tag == 0x80:
        for der in candidates:
            cert = x509.load_der_x509_certificate(der)
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if ski == tok.sid.value:
                return der
    if candidates is tok.certs:
        raise TimestampError("the token does not include its signer's certificate")
    raise TimestampError("the token is signed by a certificate that is not among the trusted ones")


def _attrs(signed_attrs: _TLV) -> dict[str, list[_TLV]]:
    out: dict[str, list[_TLV]] = {}
    for attr in signed_attrs.children():
        oid_tlv, values = _seq(attr, "Attribute")
        oid = _oid(oid_tlv, "attribute type")
        if oid in out:
            raise TimestampError(f"the signed attribute {oid} appears twice")
        out[oid] = _expect(values, 0x31, "attribute values").children()
    return out


def _check_signing_cert(attrs: dict[str, list[_TLV]], cert_der: bytes) -> None:
    if _OID_SIGNING_CERT_V2 in attrs:
        first = _seq(_seq(attrs[_OID_SIGNING_CERT_V2][0], "SigningCertificateV2")[0], "certs")[0]
        parts = _seq(first, "ESSCertIDv2")
        alg = _OID_SHA256
        if parts[0].tag == 0x30:
            alg = _alg(parts[0], "ESSCertIDv2 hashAlgorithm")
            parts = parts[1:]
        expected = _octets(parts[0], "certHash")
        actual = _hash(alg, cert_der, allow_sha1=True)
    elif _OID_SIGNING_CERT in attrs:
        first = _seq(_seq(attrs[_OID_SIGNING_CERT][0], "SigningCertificate")[0], "certs")[0]
        expected = _octets(_seq(first, "ESSCertID")[0], "certHash")
        actual = hashlib.sha1(cert_der, usedforsecurity=False).digest()
    else:
        raise TimestampError("the token has no signing-certificate attribute (RFC 3161 requires one)")
    if expected != actual:
        raise TimestampError("the token's signing-certificate attribute names a different certificate")


def _verify_signature(cert: x509.Certificate, tok: _Token, data: bytes) -> None:
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and tok.sig_alg in _RSA_PKCS1:
            cls = _RSA_PKCS1[tok.sig_alg] or _HASHES.get(tok.digest_alg)
            if cls is None or cls is hashes.SHA1:
                raise TimestampError(f"unsupported digest algorithm {tok.digest_alg}")
            key.verify(tok.signature, data, padding.PKCS1v15(), cls())
        elif isinstance(key, ec.EllipticCurvePublicKey) and tok.sig_alg in _ECDSA:
            key.verify(tok.signature, data, ec.ECDSA(_ECDSA[tok.sig_alg]()))
        elif isinstance(key, ed25519.Ed25519PublicKey) and tok.sig_alg == _ED25519:
            key.verify(tok.signature, data)
        else:
            raise TimestampError(
                f"unsupported signature algorithm {tok.sig_alg} for a {type(key).__name__} (RSA-PSS and "
                "others are not supported)"
            )
    except InvalidSignature as exc:
        raise TimestampError("the token's signature does not verify with its signer certificate") from exc


def verify_token(token: bytes, digest: bytes, *, trusted_certs: list[bytes] | None = None) -> TimestampInfo:
    """Verify an RFC 3161 token for the SHA-256 ``digest`` and return what it attests.

    Checks: the token is a CMS SignedData over a TSTInfo; its message imprint is SHA-256 of exactly
    ``digest``; the signed attributes carry contentType = TSTInfo, messageDigest = the hash of the
    TSTInfo, and a signing-certificate attribute naming the signer certificate; the signature over the
    signed attributes verifies with that certificate's key (RSA PKCS#1 v1.5, ECDSA or Ed25519); the
    certificate allows timeStamping (extendedKeyUsage) and was valid at genTime.

    Trust: with ``trusted_certs`` (DER), the signer certificate must be one of them, byte for byte.
    Chain building, revocation (CRL/OCSP) and path validation to a root are out of scope: without
    ``trusted_certs`` the token proves only that *whoever holds the embedded certificate's key* signed it.
    """
    try:
        tok = _parse_token(token)
    except (_DerError, IndexError, ValueError) as exc:
        raise TimestampError(f"the timestamp token is malformed: {exc}") from exc
    tst = tok.tst
    if tok.econtent_type != _OID_TST_INFO:
        raise TimestampError("the token does not contain a TSTInfo")
    if tst.imprint_alg != _OID_SHA256:
        raise TimestampError(f"the token's message imprint is not SHA-256 ({tst.imprint_alg})")
    if tst.imprint != digest:
        raise TimestampError("the token is for a different hash")
    if tok.signed_attrs is None:
        raise TimestampError("the token has no signed attributes")
    try:
        # with trust anchors, the signer is looked up among them only (an embedded look-alike is ignored)
        signer_der = _find_signer(tok, tok.certs if trusted_certs is None else list(trusted_certs))
        cert = x509.load_der_x509_certificate(signer_der)
        attrs = _attrs(tok.signed_attrs)
        (ctype,) = attrs.get(_OID_CONTENT_TYPE, [None])
        if ctype is None or _oid(ctype, "contentType") != _OID_TST_INFO:
            raise TimestampError("the token's contentType attribute is not TSTInfo")
        (md,) = attrs.get(_OID_MESSAGE_DIGEST, [None])
        if md is None:
            raise TimestampError("the token has no messageDigest attribute")
        if _octets(md, "messageDigest") != _hash(tok.digest_alg, tok.tst_der):
            raise TimestampError("the token's messageDigest does not match its content (it was altered)")
        _check_signing_cert(attrs, signer_der)
        _verify_signature(cert, tok, b"\x31" + tok.signed_attrs.raw[1:])
    except (_DerError, IndexError, ValueError, UnsupportedAlgorithm) as exc:
        raise TimestampError(f"the timestamp token is malformed: {exc}") from exc
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise TimestampError("the signer certificate has no extendedKeyUsage timeStamping") from exc
    if ExtendedKeyUsageOID.TIME_STAMPING not in eku:
        raise TimestampError("the signer certificate is not allowed to issue timestamps (no timeStamping)")
    if not cert.not_valid_before_utc <= tst.gen_time <= cert.not_valid_after_utc:
        raise TimestampError("the token's time is outside its signer certificate's validity")
    return TimestampInfo(
        gen_time=tst.gen_time,
        serial=tst.serial,
        tsa_name=cert.subject.rfc4514_string(),
        policy=tst.policy,
        signer_cert_sha256=hashlib.sha256(signer_der).hexdigest(),
        nonce=tst.nonce,
    )


# --- workspace integration --------------------------------------------------------------------------------


def timestamp_head(
    ws: Workspace, url: str, *, timeout: float = 20.0, trusted_certs: list[bytes] | None = None
) -> dict[str, Any]:
    """Timestamp the custody log's current head at the TSA ``url`` (given by the user; a network call),
    store the verified token under ``<workspace>/timestamps/`` and log ``custody.timestamped``."""
    _check_url(url)
    with ws.session() as session:
        row = session.execute(select(Event.id, Event.hash).order_by(Event.id.desc()).limit(1)).first()
    if row is None or not row[1]:
        raise UserError("the custody log is empty: there is nothing to timestamp")
    event_id, head_hash = int(row[0]), str(row[1])
    digest = bytes.fromhex(head_hash)
    token = request_token(url, digest, timeout=timeout)
    info = verify_token(token, digest, trusted_certs=trusted_certs)
    token_sha = hashlib.sha256(token).hexdigest()
    folder = ws.root / TIMESTAMPS_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{event_id}-{token_sha[:16]}.tsr"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(token)
    os.replace(tmp, path)
    detail = {
        "event_id": event_id,
        "event_hash": head_hash,
        "tsa_url": url,
        "gen_time": info.gen_time.isoformat(),
        "token_sha256": token_sha,
    }
    try:
        with ws.session() as session:
            ev = log_event(
                session, EventKind.CUSTODY_TIMESTAMPED, subject=subject("event", event_id), detail=detail
            )
            session.commit()
            logged = ev.id
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return {
        **detail,
        "path": str(path),
        "serial": info.serial,
        "tsa_name": info.tsa_name,
        "policy": info.policy,
        "signer_cert_sha256": info.signer_cert_sha256,
        "logged_event_id": logged,
    }


def list_tokens(ws: Workspace) -> list[tuple[int, Path]]:
    """Stored tokens as (id of the event they timestamp, file), in event order."""
    folder = ws.root / TIMESTAMPS_DIR
    if not folder.is_dir():
        return []
    out: list[tuple[int, Path]] = []
    for path in folder.iterdir():
        m = _TOKEN_NAME.match(path.name)
        if m:
            out.append((int(m.group(1)), path))
    return sorted(out)


def verify_stored(ws: Workspace, *, trusted_certs: list[bytes] | None = None) -> list[str]:
    """Re-verify every stored token against the hash the custody log holds for the event it names, and
    check that tokens and ``custody.timestamped`` events match each other; [] when all is well. (The
    chain itself is checked by :meth:`Workspace.verify_custody`.)"""
    problems: list[str] = []
    folder = ws.root / TIMESTAMPS_DIR
    if folder.is_dir():
        problems += [
            f"{p.name}: not a timestamp token file name"
            for p in sorted(folder.iterdir())
            if not _TOKEN_NAME.match(p.name)
        ]
    with ws.session() as session:
        # a field edited in the database to another type is the chain check's problem to name; here
        # such an event or hash is simply not the one a token was recorded for
        hashes_by_id = {
            int(i): h for i, h in session.execute(select(Event.id, Event.hash)) if isinstance(h, str)
        }
        recorded = {
            (d["event_id"], d["token_sha256"][:16]): ev.id
            for ev in read_log(session, kind=EventKind.CUSTODY_TIMESTAMPED)
            if isinstance(ev, Event)
            and isinstance(d := ev.detail, dict)
            and isinstance(d.get("event_id"), int)
            and isinstance(d.get("token_sha256"), str)
        }
    seen: set[tuple[int, str]] = set()
    for event_id, path in list_tokens(ws):
        name = path.name
        named_sha = name[:-4].split("-", 1)[1]
        seen.add((event_id, named_sha))
        if (event_id, named_sha) not in recorded:
            problems.append(f"{name}: no {EventKind.CUSTODY_TIMESTAMPED} event records this token")
        try:
            token = path.read_bytes()
        except OSError as exc:
            problems.append(f"{name}: cannot be read: {exc}")
            continue
        if not hashlib.sha256(token).hexdigest().startswith(named_sha):
            problems.append(f"{name}: its content does not match its name (the file was changed)")
        head_hash = hashes_by_id.get(event_id)
        if not head_hash:
            problems.append(f"{name}: the custody log has no event {event_id}")
            continue
        try:
            verify_token(token, bytes.fromhex(head_hash), trusted_certs=trusted_certs)
        except TimestampError as exc:
            problems.append(f"{name}: {exc}")
    for key, ev_id in recorded.items():
        if key not in seen:
            problems.append(
                f"event {ev_id} ({EventKind.CUSTODY_TIMESTAMPED}): its token for event {key[0]} is missing"
            )
    return problems
