"""Trusted timestamps (RFC 3161) against a real local TSA (openssl ts -reply behind http.server)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reclaim.errors import DependencyError, UserError
from reclaim.events import EventKind
from reclaim.evidence.timestamp import (
    TimestampError,
    build_request,
    list_tokens,
    request_token,
    timestamp_head,
    verify_stored,
    verify_token,
)
from reclaim.store.models import Event
from reclaim.workspace import Workspace
from tests.tsa_server import TsaFiles, _TsaServer, make_tsa, openssl_ts_available, running_tsa

_REASON = openssl_ts_available()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")

DIGEST = hashlib.sha256(b"the custody head").digest()


@pytest.fixture(scope="module", params=["rsa", "ec"])
def tsa_files(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> TsaFiles:
    return make_tsa(tmp_path_factory.mktemp(f"tsa-{request.param}"), key=request.param)


@pytest.fixture
def tsa(tsa_files: TsaFiles) -> Iterator[_TsaServer]:
    with running_tsa(tsa_files) as server:
        yield server


@pytest.fixture(scope="module")
def rsa_files(tmp_path_factory: pytest.TempPathFactory) -> TsaFiles:
    return make_tsa(tmp_path_factory.mktemp("tsa-rsa-only"), key="rsa")


@pytest.fixture
def rsa_tsa(rsa_files: TsaFiles) -> Iterator[_TsaServer]:
    with running_tsa(rsa_files) as server:
        yield server


def test_round_trip(tsa: _TsaServer) -> None:
    token = request_token(tsa.url, DIGEST)
    info = verify_token(token, DIGEST)
    assert abs(info.gen_time - datetime.now(UTC)) < timedelta(minutes=2)
    assert info.gen_time.tzinfo is not None
    assert info.policy == "1.3.6.1.4.1.99999.1"
    assert "Test TSA" in info.tsa_name
    assert info.serial >= 1
    tsa_der = tsa.files.der(tsa.files.tsa_crt)
    assert info.signer_cert_sha256 == hashlib.sha256(tsa_der).hexdigest()
    assert verify_token(token, DIGEST, trusted_certs=[tsa_der]) == info
    with pytest.raises(TimestampError, match="not among the trusted"):
        verify_token(token, DIGEST, trusted_certs=[tsa.files.der(tsa.files.ca_crt)])


def test_token_for_another_hash_fails(tsa: _TsaServer) -> None:
    token = request_token(tsa.url, DIGEST)
    other = hashlib.sha256(b"something else").digest()
    with pytest.raises(TimestampError, match="different hash"):
        verify_token(token, other)


def test_request_is_well_formed(rsa_tsa: _TsaServer, tmp_path: Path) -> None:
    req = build_request(DIGEST, nonce=0x1234)
    (tmp_path / "q.tsq").write_bytes(req)
    out = subprocess.run(
        ["openssl", "ts", "-query", "-in", str(tmp_path / "q.tsq"), "-text"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "sha256" in out.stdout
    assert DIGEST.hex()[:8] in out.stdout.replace(" ", "").replace("-", "").lower()
    assert "0x1234" in out.stdout
    assert "Certificate required: yes" in out.stdout
    with pytest.raises(UserError):
        build_request(b"short")


def test_flipped_bytes_fail(rsa_tsa: _TsaServer) -> None:
    token = request_token(rsa_tsa.url, DIGEST)
    failures = 0
    # flip a byte inside the TSTInfo (genTime area), inside the signature (the end), and in the middle
    for pos in {len(token) - 5, len(token) // 2, token.find(b"\x18\x13") + 5}:
        bad = bytearray(token)
        bad[pos] ^= 0x01
        with pytest.raises(TimestampError):
            verify_token(bytes(bad), DIGEST)
        failures += 1
    assert failures >= 2
    sig_flip = bytearray(token)
    sig_flip[-5] ^= 0x01
    with pytest.raises(TimestampError, match="signature does not verify"):
        verify_token(bytes(sig_flip), DIGEST)


def test_tsa_errors_are_clear(rsa_tsa: _TsaServer) -> None:
    rsa_tsa.mode = "http500"
    with pytest.raises(DependencyError, match="HTTP 500"):
        request_token(rsa_tsa.url, DIGEST)
    rsa_tsa.mode = "garbage"
    with pytest.raises(DependencyError, match="malformed response"):
        request_token(rsa_tsa.url, DIGEST)
    with pytest.raises(UserError, match="http"):
        request_token("file:///etc/passwd", DIGEST)
    with pytest.raises(TimestampError, match="malformed"):
        verify_token(b"\x30\x03\x02\x01\x01", DIGEST)


def test_refused_request_reports_status(rsa_tsa: _TsaServer, tmp_path: Path) -> None:
    # a TSA that does not accept SHA-256 answers "rejection" with a reason
    cfg = rsa_tsa.files.config.read_text(encoding="utf-8").replace(
        "digests = sha256, sha384, sha512", "digests = sha512"
    )
    path = tmp_path / "strict.cnf"
    path.write_text(cfg, encoding="utf-8")
    strict = TsaFiles(
        rsa_tsa.files.dir, rsa_tsa.files.ca_crt, rsa_tsa.files.tsa_crt, rsa_tsa.files.tsa_key, path
    )
    with running_tsa(strict) as server, pytest.raises(DependencyError, match=r"rejection.*badAlg"):
        request_token(server.url, DIGEST)


def test_openssl_verifies_our_token(tsa: _TsaServer, tmp_path: Path) -> None:
    token = request_token(tsa.url, DIGEST)
    (tmp_path / "t.der").write_bytes(token)
    f = tsa.files
    cmd = ["openssl", "ts", "-verify", "-in", str(tmp_path / "t.der"), "-token_in",
           "-CAfile", str(f.ca_crt), "-untrusted", str(f.tsa_crt)]  # fmt: skip
    ok = subprocess.run([*cmd, "-digest", DIGEST.hex()], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "Verification: OK" in ok.stdout
    other = hashlib.sha256(b"x").hexdigest()
    bad = subprocess.run([*cmd, "-digest", other], capture_output=True, text=True, check=False)
    assert bad.returncode != 0


def test_timestamp_head_stores_and_logs(rsa_tsa: _TsaServer, tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", "pw")
    try:
        with ws.session() as s:
            head = s.query(Event).order_by(Event.id.desc()).first()
            assert head is not None and head.hash
            head_id, head_hash = head.id, head.hash
        result = timestamp_head(ws, rsa_tsa.url)
        assert result["event_id"] == head_id
        assert result["event_hash"] == head_hash
        assert len(rsa_tsa.requests) == 1
        tokens = list_tokens(ws)
        assert [t[0] for t in tokens] == [head_id]
        path = tokens[0][1]
        assert path.parent == ws.root / "timestamps"
        assert path.name.startswith(f"{head_id}-{result['token_sha256'][:16]}")
        with ws.session() as s:
            ev = s.query(Event).order_by(Event.id.desc()).first()
            assert ev is not None and ev.kind == EventKind.CUSTODY_TIMESTAMPED and ev.detail is not None
            assert ev.detail["event_id"] == head_id
            assert ev.detail["event_hash"] == head_hash
            assert ev.detail["tsa_url"] == rsa_tsa.url
            assert ev.detail["token_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
            assert set(ev.detail) == {"event_id", "event_hash", "tsa_url", "gen_time", "token_sha256"}
        assert ws.verify_custody() == []
        assert verify_stored(ws) == []
        # a second timestamp covers the custody.timestamped event itself
        timestamp_head(ws, rsa_tsa.url)
        assert len(list_tokens(ws)) == 2
        assert verify_stored(ws, trusted_certs=[rsa_tsa.files.der(rsa_tsa.files.tsa_crt)]) == []

        original = path.read_bytes()
        bad = bytearray(original)
        bad[-5] ^= 0x01
        path.write_bytes(bytes(bad))
        problems = verify_stored(ws)
        assert any("does not match its name" in p for p in problems)
        assert any("signature does not verify" in p for p in problems)

        # a genuine token moved onto another event is for a different hash
        path.write_bytes(original)
        moved = path.with_name(f"{head_id + 1}-{path.name.split('-', 1)[1]}")
        path.rename(moved)
        problems = verify_stored(ws)
        assert any("different hash" in p for p in problems), problems
        assert any("is missing" in p for p in problems), problems
        moved.rename(path)
        assert verify_stored(ws) == []
        path.unlink()
        assert any("is missing" in p for p in verify_stored(ws))
    finally:
        ws.close()


def test_timestamp_head_failure_stores_nothing(rsa_tsa: _TsaServer, tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "ws", "pw")
    try:
        rsa_tsa.mode = "http500"
        with pytest.raises(DependencyError):
            timestamp_head(ws, rsa_tsa.url)
        assert list_tokens(ws) == []
        with ws.session() as s:
            assert s.query(Event).filter(Event.kind == EventKind.CUSTODY_TIMESTAMPED).count() == 0
        assert verify_stored(ws) == []
    finally:
        ws.close()


def test_cli_timestamp_then_custody_verify(
    rsa_tsa: _TsaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from reclaim.cli import app

    monkeypatch.setenv("RECLAIM_PASSPHRASE", "pw")
    runner = CliRunner()
    ws = str(tmp_path / "ws")
    assert runner.invoke(app, ["--workspace", ws, "init"]).exit_code == 0
    result = runner.invoke(app, ["--workspace", ws, "timestamp", "--tsa", rsa_tsa.url, "--json"])
    assert result.exit_code == 0, result.stderr
    stamped = json.loads(result.stdout)
    assert stamped["event_id"] == 1 and len(stamped["token_sha256"]) == 64
    result = runner.invoke(app, ["--workspace", ws, "custody", "verify", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["intact"] and report["timestamps"] == 1
    token = next((tmp_path / "ws" / "timestamps").iterdir())
    raw = bytearray(token.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    token.write_bytes(bytes(raw))
    result = runner.invoke(app, ["--workspace", ws, "custody", "verify"])
    assert result.exit_code == 1 and "custody log:" in result.stderr


def test_tokens_travel_in_evidence_packages(rsa_tsa: _TsaServer, tmp_path: Path) -> None:
    import zipfile

    from reclaim.demo import build_sample_export
    from reclaim.evidence.package import export_package
    from reclaim.evidence.verify import verify_package
    from reclaim.persons.service import add_person
    from reclaim.scan.service import scan_paths
    from reclaim.workspace import Workspace

    sample = build_sample_export(tmp_path / "export")
    ws = Workspace.create(tmp_path / "ws", "pw")
    try:
        with ws.session() as s:
            pid = add_person(s, ws.key, name="P", photos=sample.enrol_photos, consent="c").person_id
        scan_paths(ws, [sample.root / "chats" / "chat_001"], workers=1)
        timestamp_head(ws, rsa_tsa.url)
        out = tmp_path / "case.zip"
        export_package(ws, person_id=pid, out=out)
    finally:
        ws.close()
    report = verify_package(out)
    assert report.ok, report.problems
    assert report.checked["timestamps"] == 1
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("timestamps/"):
                data = data[:-40] + bytes(b ^ 0x55 for b in data[-40:])
            dst.writestr(info, data)
    problems = verify_package(bad).problems
    assert any(p.startswith("timestamps/") for p in problems), problems
