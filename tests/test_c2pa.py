"""C2PA manifests read offline with c2pa-python: validation state, AI / capture claims, honest summaries.

Self-contained tests sign small JPEGs at test time with a CA and signer made here (no network: no
timestamp authority, no OCSP, no remote manifests). The shared fixtures (../shared/data/provenance) check the
classification of the c2pa-python test images and of A.jpg re-signed with AI and capture claims.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from reclaim.errors import UserError
from reclaim.forensics.base import ForensicResult
from reclaim.forensics.c2pa import (
    VERDICTS,
    C2paTrust,
    load_trust,
    read_c2pa,
    reader_settings,
)

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
_FORBIDDEN = re.compile(r"\b(is|looks|appears)\s+(real|authentic|genuine)\b", re.I)


# --- helpers ---------------------------------------------------------------------------------------------


def _jpeg(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "reclaim tests"),
        ]
    )


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class Creds:
    ca_pem: str
    chain_pem: bytes
    key_pem: bytes


def _make_creds(cn: str = "Test CA") -> Creds:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Test Signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return Creds(
        ca_pem=ca.public_bytes(pem).decode("ascii"),
        chain_pem=leaf.public_bytes(pem) + ca.public_bytes(pem),
        key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


@pytest.fixture(scope="module")
def creds() -> Creds:
    return _make_creds()


def _sign(
    creds: Creds,
    source: bytes,
    actions: list[dict[str, Any]],
    *,
    ingredient: bytes | None = None,
) -> bytes:
    """Sign ``source`` offline (no timestamp authority) with a manifest holding ``actions``."""
    manifest: dict[str, Any] = {
        "claim_generator_info": [{"name": "reclaim-tests", "version": "1"}],
        "title": "signed.jpg",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}}],
    }
    settings = reader_settings()
    settings["builder"] = {"thumbnail": {"enabled": False}}
    context = c2pa.Context.from_dict(settings)
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, creds.chain_pem, creds.key_pem, None)
    )
    with c2pa.Builder(manifest, context=context) as builder:
        if ingredient is not None:
            builder.add_ingredient(
                {"title": "ingredient.jpg", "relationship": "parentOf", "label": "parent"},
                "image/jpeg",
                io.BytesIO(ingredient),
            )
        out = io.BytesIO()
        builder.sign(signer, "image/jpeg", io.BytesIO(source), out)
    return out.getvalue()


def _created(source_type: str) -> list[dict[str, Any]]:
    return [{"action": "c2pa.created", "digitalSourceType": IPTC + source_type}]


def _check_honest(result: ForensicResult) -> None:
    assert result.signal == "c2pa"
    assert result.verdict in VERDICTS
    assert result.strength in ("strong", "moderate", "weak", "none")
    assert result.summary
    for sentence in re.split(r"(?<=[.;])\s+", result.summary):  # "authentic" only ever in a negation
        assert not _FORBIDDEN.search(sentence) or " not " in sentence, sentence
    assert result.caveats
    assert result.detail.get("state") in ("trusted", "valid_untrusted", "invalid", None)
    json.dumps(result.to_dict())  # JSON-safe
    assert ForensicResult.from_dict(result.to_dict()) == result


def _pem_file(tmp_path: Path, text: str, name: str = "anchors.pem") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- never raises on bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"", None),
        (b"\x00\x01garbage" * 100, None),
        (b"garbage" * 10, "image/jpeg"),
        (b"\xff\xd8\xff", None),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "image/png"),
        (b"<svg", "image/svg+xml"),
    ],
)
def test_garbage_never_raises(data: bytes, mime: str | None) -> None:
    result = read_c2pa(data, mime)
    _check_honest(result)
    assert result.verdict in ("error", "no_manifest")
    assert result.strength == "none"
    if result.verdict == "error":
        assert result.error and result.error in result.summary


@pytest.mark.parametrize("keep", [0.5, 0.05, 40])
def test_truncated_plain_jpeg_never_raises(keep: float) -> None:
    data = _jpeg((1152, 864))
    cut = int(len(data) * keep) if keep < 1 else int(keep)
    result = read_c2pa(data[:cut], "image/jpeg")
    _check_honest(result)
    assert result.verdict in ("no_manifest", "error")
    if result.verdict == "error":
        assert result.error
    assert "c2pa_bytes_seen" not in result.detail


def test_non_bytes_input_never_raises() -> None:
    for value in ("not bytes", 10**12, None):
        result = read_c2pa(value, None)  # type: ignore[arg-type]
        _check_honest(result)
        assert result.verdict == "error"
    assert read_c2pa(bytearray(_jpeg())).verdict == "no_manifest"  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_plain_image_has_no_manifest(fmt: str) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 90, 150)).save(buf, fmt)
    result = read_c2pa(buf.getvalue(), f"image/{fmt.lower()}")
    _check_honest(result)
    assert result.verdict == "no_manifest"
    assert result.strength == "none"
    assert result.detail == {"state": None, "manifest_present": False}
    assert "proves nothing" in result.summary


def test_wrong_mime_hint_is_overridden_by_the_bytes(creds: Creds) -> None:
    signed = _sign(creds, _jpeg(), _created("trainedAlgorithmicMedia"))
    assert read_c2pa(signed, "image/png").verdict == "ai_declared"
    assert read_c2pa(signed, "text/plain").verdict == "ai_declared"
    assert read_c2pa(signed, "  ").verdict == "ai_declared"


# --- offline by construction -----------------------------------------------------------------------------


def test_reader_settings_disable_every_network_path() -> None:
    settings = reader_settings()
    assert settings["verify"]["remote_manifest_fetch"] is False
    assert settings["verify"]["ocsp_fetch"] is False
    assert settings["core"]["allowed_network_hosts"] == []  # an empty allow-list denies every host
    assert "trust" not in settings  # nothing shipped, nothing downloaded
    assert C2paTrust().anchors == ()


def test_trust_settings_use_only_the_users_anchors(creds: Creds) -> None:
    settings = reader_settings(C2paTrust(creds.ca_pem))
    assert settings["trust"] == {"trust_anchors": creds.ca_pem.strip() + "\n"}
    assert settings["verify"]["remote_manifest_fetch"] is False


# --- self-signed manifests: AI, composite, capture, trust, tampering ------------------------------------


def test_ai_generated_claim_valid_untrusted(creds: Creds) -> None:
    result = read_c2pa(_sign(creds, _jpeg(), _created("trainedAlgorithmicMedia")), "image/jpeg")
    _check_honest(result)
    assert (result.verdict, result.strength) == ("ai_declared", "strong")
    d = result.detail
    assert d["state"] == "valid_untrusted"
    assert d["ai"] == "generated"
    assert d["failures"] == []
    assert d["untrusted"] == ["signingCredential.untrusted"]
    assert d["signer"] == "Test Signer"
    assert d["issuer"] == "reclaim tests"
    assert d["claim_generator"] == "reclaim-tests/1"
    assert d["title"] == "signed.jpg"
    assert d["trust_anchors"] == 0
    assert result.summary == (
        "The file carries a C2PA manifest declaring it was generated by a trained AI model; the signature is "
        "valid but its certificate is not on your trust list."
    )


def test_ai_generated_claim_trusted_with_the_users_anchor(creds: Creds) -> None:
    signed = _sign(creds, _jpeg(), _created("trainedAlgorithmicMedia"))
    result = read_c2pa(signed, "image/jpeg", trust=C2paTrust(creds.ca_pem))
    _check_honest(result)
    assert (result.verdict, result.strength, result.detail["state"]) == ("ai_declared", "strong", "trusted")
    assert result.detail["trust_anchors"] == 1
    assert result.detail["untrusted"] == []
    assert "is on your trust list" in result.summary
    # someone else's CA does not make it trusted
    other = read_c2pa(signed, "image/jpeg", trust=C2paTrust(_make_creds("Other CA").ca_pem))
    assert other.detail["state"] == "valid_untrusted"


def test_composite_claim(creds: Creds) -> None:
    result = read_c2pa(_sign(creds, _jpeg(), _created("compositeWithTrainedAlgorithmicMedia")))
    _check_honest(result)
    assert (result.verdict, result.strength) == ("ai_composite_declared", "strong")
    assert result.detail["ai"] == "composite"


def test_capture_claim_is_no_evidence_and_not_called_authentic(creds: Creds) -> None:
    result = read_c2pa(_sign(creds, _jpeg(), _created("digitalCapture")), "image/jpeg")
    _check_honest(result)
    assert (result.verdict, result.strength) == ("capture_declared", "none")
    assert result.detail["capture"] is True
    assert "ai" not in result.detail
    assert "claim by the signer" in result.summary
    assert "does not show the image is authentic" in result.summary


def test_manifest_without_ai_or_capture_claim(creds: Creds) -> None:
    result = read_c2pa(_sign(creds, _jpeg(), _created("digitalCreation")))
    _check_honest(result)
    assert (result.verdict, result.strength) == ("manifest_no_ai_claim", "none")
    assert result.detail["digital_source_types"] == ["digitalCreation"]
    assert "ai" not in result.detail and "capture" not in result.detail
    assert "does not show the image is authentic" in result.summary


def test_algorithmic_media_is_not_an_ai_claim(creds: Creds) -> None:
    result = read_c2pa(_sign(creds, _jpeg(), _created("algorithmicMedia")))
    assert (result.verdict, result.strength) == ("manifest_no_ai_claim", "none")
    assert result.detail["algorithmic"] is True
    assert "not a trained AI model" in result.summary


def test_ai_claim_in_an_ingredient(creds: Creds) -> None:
    generated = _sign(creds, _jpeg(color=(10, 10, 200)), _created("trainedAlgorithmicMedia"))
    opened = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}]
    edited = _sign(creds, _jpeg(color=(10, 10, 190)), opened, ingredient=generated)
    result = read_c2pa(edited, "image/jpeg")
    _check_honest(result)
    assert (result.verdict, result.strength) == ("ai_ingredient_declared", "strong")
    assert result.detail["ingredient_ai"] == "generated"
    assert "ai" not in result.detail
    assert result.detail["manifest_count"] == 2


def test_tampered_pixels_keep_the_claim_but_lower_the_strength(creds: Creds) -> None:
    signed = bytearray(_sign(creds, _jpeg((128, 96)), _created("trainedAlgorithmicMedia")))
    signed[-200] ^= 0xFF  # inside the entropy-coded image data, after the manifest
    result = read_c2pa(bytes(signed), "image/jpeg", trust=C2paTrust(creds.ca_pem))
    _check_honest(result)
    assert (result.verdict, result.strength) == ("ai_declared", "moderate")
    assert result.detail["state"] == "invalid"
    assert "assertion.dataHash.mismatch" in result.detail["failures"]
    assert "do not verify" in result.summary


def test_tampered_capture_is_invalid_manifest_weak(creds: Creds) -> None:
    signed = bytearray(_sign(creds, _jpeg((128, 96)), _created("digitalCapture")))
    signed[-200] ^= 0xFF
    result = read_c2pa(bytes(signed))
    _check_honest(result)
    assert (result.verdict, result.strength) == ("invalid_manifest", "weak")
    assert result.detail["failures"] == ["assertion.dataHash.mismatch"]
    assert result.detail["capture"] is True
    assert "changed after signing" in result.summary
    assert "cannot be relied on" in result.summary


def test_truncated_signed_jpeg_reports_c2pa_bytes(creds: Creds) -> None:
    signed = _sign(creds, _jpeg((256, 192)), _created("trainedAlgorithmicMedia"))
    result = read_c2pa(signed[: len(signed) - 300], "image/jpeg")
    _check_honest(result)
    assert result.verdict in ("error", "invalid_manifest", "ai_declared")
    if result.verdict == "error":
        assert result.detail.get("c2pa_bytes_seen") is True
    else:
        assert result.detail["state"] == "invalid"


def test_garbage_trust_anchors_give_an_error_not_an_exception(creds: Creds) -> None:
    signed = _sign(creds, _jpeg(), _created("trainedAlgorithmicMedia"))
    result = read_c2pa(signed, trust=C2paTrust("no certificate here"))
    _check_honest(result)
    assert result.verdict == "error"
    assert result.error and "trust anchors" in result.error
    broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    result = read_c2pa(signed, trust=C2paTrust(broken))
    _check_honest(result)
    assert result.verdict == "error"
    assert result.error and "certificate 1 does not parse" in result.error


# --- load_trust ------------------------------------------------------------------------------------------


def test_load_trust_reads_every_certificate(tmp_path: Path, creds: Creds) -> None:
    other = _make_creds("Other CA")
    path = _pem_file(tmp_path, "comment line\n" + creds.ca_pem + "\n" + other.ca_pem)
    trust = load_trust(path)
    assert len(trust.anchors) == 2
    assert trust.source == str(path)
    assert trust.anchors[0].startswith("-----BEGIN CERTIFICATE-----")
    signed = _sign(creds, _jpeg(), _created("trainedAlgorithmicMedia"))
    assert read_c2pa(signed, trust=trust).detail["state"] == "trusted"


def test_load_trust_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read trust anchors file"):
        load_trust(tmp_path / "absent.pem")


def test_load_trust_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read trust anchors file"):
        load_trust(tmp_path)


def test_load_trust_not_pem(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="holds no PEM certificate"):
        load_trust(_pem_file(tmp_path, "just some text\n"))
    path = tmp_path / "binary.pem"
    path.write_bytes(b"\x00\xff" * 100)
    with pytest.raises(UserError, match="holds no PEM certificate"):
        load_trust(path)


def test_load_trust_broken_certificate(tmp_path: Path) -> None:
    text = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    with pytest.raises(UserError, match=r"certificate 1 .* does not parse"):
        load_trust(_pem_file(tmp_path, text))


def test_load_trust_private_key_is_not_a_certificate(tmp_path: Path, creds: Creds) -> None:
    with pytest.raises(UserError, match="holds no PEM certificate"):
        load_trust(_pem_file(tmp_path, creds.key_pem.decode("ascii")))


# --- speed -----------------------------------------------------------------------------------------------


def _median_ms(data: bytes, runs: int = 15) -> float:
    read_c2pa(data, "image/jpeg")  # warm up (library load, context)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        read_c2pa(data, "image/jpeg")
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


def test_time_per_call_is_small(creds: Creds) -> None:
    plain = _jpeg((1152, 864))
    signed = _sign(creds, plain, _created("trainedAlgorithmicMedia"))
    # Measured around 0.2 ms (no manifest) and 1-2 ms (manifest); the bound leaves room for slow CI machines.
    assert _median_ms(plain) < 50
    assert _median_ms(signed) < 50


# --- shared fixtures (../shared/data/provenance) ---------------------------------------------------------

# file -> (verdict, strength, state, failures, extra detail expected)
EXPECTED: dict[str, tuple[str, str, str | None, list[str] | None, dict[str, Any]]] = {
    "c2pa/C.jpg": ("manifest_no_ai_claim", "none", "valid_untrusted", [], {"algorithmic": True}),
    "c2pa/CA.jpg": ("manifest_no_ai_claim", "none", "valid_untrusted", [], {}),
    "c2pa/CACAE-uri-CA.jpg": ("manifest_no_ai_claim", "none", "valid_untrusted", [], {}),
    "c2pa/boxhash.jpg": ("manifest_no_ai_claim", "none", "valid_untrusted", [], {}),
    "c2pa/legacy_ingredient_hash.jpg": ("manifest_no_ai_claim", "none", "valid_untrusted", [], {}),
    "c2pa/C_with_CAWG_data.jpg": ("capture_declared", "none", "valid_untrusted", [], {"capture": True}),
    "c2pa/CIE-sig-CA.jpg": (
        "invalid_manifest",
        "none",
        "invalid",
        ["claimSignature.mismatch"],
        {"failures_in": ["ingredient"]},
    ),
    "c2pa/E-sig-CA.jpg": ("invalid_manifest", "none", "invalid", ["claimSignature.mismatch"], {}),
    "c2pa/XCA.jpg": ("invalid_manifest", "weak", "invalid", ["assertion.dataHash.mismatch"], {}),
    "c2pa/A.jpg": ("no_manifest", "none", None, None, {"manifest_present": False}),
    "c2pa/earth_apollo17.jpg": ("no_manifest", "none", None, None, {"manifest_present": False}),
    "c2pa/sample1.png": ("no_manifest", "none", None, None, {"manifest_present": False}),
    "c2pa/cloud.jpg": ("remote_manifest_not_fetched", "none", None, None, {"remote": True}),
    "c2pa/prerelease.jpg": ("unsupported_manifest", "none", None, None, {"manifest_present": True}),
    "c2pa_generated/A_ai_generated.jpg": (
        "ai_declared",
        "strong",
        "valid_untrusted",
        [],
        {"ai": "generated"},
    ),
    "c2pa_generated/A_ai_composite.jpg": (
        "ai_composite_declared",
        "strong",
        "valid_untrusted",
        [],
        {"ai": "composite"},
    ),
    "c2pa_generated/A_camera_capture.jpg": (
        "capture_declared",
        "none",
        "valid_untrusted",
        [],
        {"capture": True},
    ),
}


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_fixture_classification(shared_data: Path, name: str) -> None:
    verdict, strength, state, failures, extra = EXPECTED[name]
    data = (shared_data / "provenance" / name).read_bytes()
    result = read_c2pa(data)
    _check_honest(result)
    assert (result.verdict, result.strength, result.detail["state"]) == (verdict, strength, state)
    if failures is not None:
        assert result.detail["failures"] == failures
    for key, value in extra.items():
        assert result.detail[key] == value, key
    if state is not None:
        assert result.detail["signer"] == "C2PA Signer"
        assert result.detail["issuer"] == "C2PA Test Signing Cert"
        assert result.detail.get("title")
        assert result.detail.get("claim_generator")


@pytest.mark.shared
def test_shared_fixtures_are_all_covered(shared_data: Path) -> None:
    root = shared_data / "provenance"
    present = {
        str(p.relative_to(root))
        for folder in ("c2pa", "c2pa_generated")
        for p in (root / folder).iterdir()
        if p.suffix.lower() in (".jpg", ".png")
    }
    assert present == set(EXPECTED)


@pytest.mark.shared
def test_remote_manifest_is_never_fetched(shared_data: Path) -> None:
    data = (shared_data / "provenance" / "c2pa" / "cloud.jpg").read_bytes()
    start = time.perf_counter()
    result = read_c2pa(data, "image/jpeg")
    elapsed = time.perf_counter() - start
    assert result.verdict == "remote_manifest_not_fetched"
    assert result.detail["remote_url"].startswith("https://")
    assert "remote manifest not fetched" in result.summary
    assert elapsed < 1.0  # a network round trip (or a DNS timeout) would not be this quick


@pytest.mark.shared
def test_fixture_test_cert_as_anchor_makes_ai_generated_trusted(shared_data: Path) -> None:
    creds_dir = shared_data / "provenance" / "c2pa" / "test_creds"
    trust = load_trust(creds_dir / "es256_certs.pem")  # the signer and its intermediate CA
    assert len(trust.anchors) == 2
    data = (shared_data / "provenance" / "c2pa_generated" / "A_ai_generated.jpg").read_bytes()
    before = read_c2pa(data, "image/jpeg")
    after = read_c2pa(data, "image/jpeg", trust=trust)
    assert before.detail["state"] == "valid_untrusted"
    assert (after.verdict, after.strength, after.detail["state"]) == ("ai_declared", "strong", "trusted")
    assert after.detail["untrusted"] == []
    # the intermediate CA alone is enough as an anchor
    intermediate = C2paTrust(trust.anchors[1])
    assert read_c2pa(data, trust=intermediate).detail["state"] == "trusted"
    # trust never repairs a broken manifest
    tampered = (shared_data / "provenance" / "c2pa" / "XCA.jpg").read_bytes()
    assert read_c2pa(tampered, trust=trust).detail["state"] == "invalid"


@pytest.mark.shared
def test_shared_timing(shared_data: Path) -> None:
    data = (shared_data / "provenance" / "c2pa_generated" / "A_ai_generated.jpg").read_bytes()
    assert _median_ms(data) < 50
