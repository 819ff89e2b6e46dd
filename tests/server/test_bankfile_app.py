"""The served app's bank file (the workspace's confirmed hashes, ``bank/confirmed.bank``): built once and
mapped by every worker, confirmations through a small delta, compaction, rebuilt when damaged, and
erasure: an erased person's hashes leave the file. Then the same through a running 2-worker server."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from reclaim.demo import jpeg, paste_face
from reclaim.demo import sample_picture as _sk
from reclaim.persons.service import forget_person
from reclaim.review.service import review_match
from reclaim.scan.analyze import Analysis
from reclaim.server import bank as bank_module
from reclaim.server.bank import HashBank, remove_workspace_bank_file, workspace_bank_file
from reclaim.store.models import Person
from reclaim.workspace import Workspace

from ..test_cli import invoke
from .test_hashapi import add_item

NAME = "Jane Victim"
PICTURES = ("rocket", "chelsea", "astronaut", "camera")


def _person(ws: Workspace, name: str = NAME) -> str:
    with ws.session() as s:
        person = Person(name=name)
        s.add(person)
        s.commit()
        return person.id


def _pdq(analysis: Analysis) -> str:
    return next(v.value for v in analysis.signals if v.signal_type == "pdq" and v.variant == 0)


def _picture(name: str) -> bytes:
    return jpeg(Image.fromarray(_sk(name)))


def _ids(bank: HashBank, analysis: Analysis) -> list[str]:
    return [m.bank_id for m in bank.lookup("pdq", _pdq(analysis))]


def test_workspace_bank_file_lifecycle(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    ws: Workspace = app.state.workspace
    bank: HashBank = app.state.hash_bank
    path = workspace_bank_file(ws.root)
    assert bank.file == path and path.is_relative_to(ws.root)
    person = _person(ws)
    first, _ = add_item(ws, person, jpeg(paste_face(_sk("coffee"), width=150, at=(0.5, 0.35))), "confirmed")
    bank.refresh(ws.session)
    assert bank.file_builds == 1 and path.exists()
    assert _ids(bank, first) == [first.sha256]
    # The file holds hashes and opaque ids only: no person's name or id
    raw = path.read_bytes()
    assert bytes.fromhex(_pdq(first)) in raw and first.sha256.encode() in raw
    assert NAME.encode() not in raw and person.encode() not in raw

    # A second process (a fresh bank over the same workspace) maps the file; it does not rebuild it
    other = HashBank(file=path)
    other.refresh(ws.session)
    assert other.file_builds == 0 and _ids(other, first) == [first.sha256]

    # A confirmation goes into each process's delta, not the file
    second, match_id = add_item(ws, person, _picture("rocket"), "candidate")
    with ws.session() as s:
        review_match(s, match_id=match_id, decision="confirmed", actor="tests")
    inode = path.stat().st_ino
    for b in (bank, other):
        b.invalidate()
        assert b.refresh(ws.session)
        assert _ids(b, second) == [second.sha256]
    assert path.stat().st_ino == inode and bank.file_builds == 1 and other.file_builds == 0

    # Past COMPACT_AT items in the delta the file is rebuilt with them (once: the other process maps it)
    monkeypatch.setattr(bank_module, "COMPACT_AT", 1)
    third, _ = add_item(ws, person, _picture("chelsea"), "confirmed")
    bank.invalidate()
    bank.refresh(ws.session)
    assert bank.file_builds == 2 and path.stat().st_ino != inode
    assert bank._confirmed is not None and len(bank._confirmed) == 0, "the delta went into the file"
    other.invalidate()
    other.refresh(ws.session)
    assert other.file_builds == 0 and _ids(other, third) == [third.sha256]

    # A damaged file is rebuilt (noticed by its changed size/time on the next check)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    other.invalidate()
    other.refresh(ws.session)
    assert other.file_builds == 1 and _ids(other, first) == [first.sha256]

    # Erasure: the person's items leave the lookups and the file (rebuilt without them)
    unrelated = _person(ws, "Someone Else")
    kept, _ = add_item(ws, unrelated, _picture("astronaut"), "confirmed")
    with ws.session() as s:
        forget_person(s, person, vault=ws.vault)
    for b in (bank, other):
        b.invalidate()
        b.refresh(ws.session)
        for gone in (first, second, third):
            assert _ids(b, gone) == []
        assert _ids(b, kept) == [kept.sha256]
    raw = path.read_bytes()
    for gone in (first, second, third):
        assert bytes.fromhex(_pdq(gone)) not in raw and gone.sha256.encode() not in raw
    assert kept.sha256.encode() in raw

    # The CLI's erase path removes the file; a running bank rebuilds it from what stays
    assert remove_workspace_bank_file(ws.root) and not path.exists()
    bank.invalidate()
    bank.refresh(ws.session)
    assert path.exists() and _ids(bank, kept) == [kept.sha256]


def test_unwritable_workspace_falls_back_to_memory(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    ws: Workspace = app.state.workspace
    bank: HashBank = app.state.hash_bank
    person = _person(ws)
    first, _ = add_item(ws, person, _picture("camera"), "confirmed")
    bank.refresh(ws.session)
    assert bank.file is not None and _ids(bank, first) == [first.sha256]
    second, _ = add_item(ws, person, _picture("rocket"), "confirmed")

    def refuse(*_a: Any, **_k: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(bank_module, "write_bank_file", refuse)
    remove_workspace_bank_file(ws.root)  # the next check must rebuild it, and cannot
    bank.invalidate()
    bank.refresh(ws.session)
    assert bank.file is None
    assert _ids(bank, first) == [first.sha256] and _ids(bank, second) == [second.sha256]
    third, _ = add_item(ws, person, _picture("chelsea"), "confirmed")
    bank.invalidate()
    bank.refresh(ws.session)
    assert _ids(bank, third) == [third.sha256] and _ids(bank, first) == [first.sha256]


def test_person_forget_removes_the_bank_file(cli_env: Path) -> None:
    """``reclaim person forget``: the erased person's hashes leave the disk with the bank file (a running
    server rebuilds it from what stays)."""
    assert invoke("init")[0] == 0
    ws = Workspace.open(cli_env, os.environ["RECLAIM_PASSPHRASE"])
    try:
        person = _person(ws)
        confirmed, _ = add_item(ws, person, _picture("rocket"), "confirmed")
        bank = HashBank(file=workspace_bank_file(ws.root))
        bank.refresh(ws.session)
        path = workspace_bank_file(ws.root)
        assert confirmed.sha256.encode() in path.read_bytes()
    finally:
        ws.close()
    code, _out, err = invoke("person", "forget", person, "--json")
    assert code == 0, err
    assert not path.exists()


# --- a running 2-worker server ------------------------------------------------------------------------------


def _settings(root: Path) -> Any:
    from reclaim.server.settings import ServerSettings

    return ServerSettings(
        workspace=root / "ws",
        passphrase="bank file app test passphrase",
        secret_key="Tq8vX2pL9mZr4Kw7Yb3Nc6Hd1Jf5Gs0Ae-UiOoPl_QxRt",
        mode="server",
        cookie_secure=True,
    )


def _serve(root: Path, port: int, worker: int) -> None:
    """One worker of the server, as ``uvicorn --workers 2`` runs it: the app as created, nothing attached
    by hand; its log (which says when it builds the bank file) goes to ``worker-N.log``."""
    import uvicorn

    from reclaim.server.app import create_app

    handler = logging.FileHandler(root / f"worker-{worker}.log")
    logging.getLogger("reclaim.server.bank").addHandler(handler)
    logging.getLogger("reclaim.server.bank").setLevel(logging.INFO)
    app = create_app(_settings(root))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])


def test_two_worker_server_shares_the_workspace_bank_file(tmp_path: Path) -> None:
    from reclaim.server.app import create_app
    from reclaim.server.auth import create_token, create_user

    app = create_app(_settings(tmp_path))
    ws = app.state.workspace
    with ws.session() as s:
        token = create_token(s, create_user(s, username="p", password="bank file app test", role="platform"))
        s.commit()
    person = _person(ws)
    banked, _ = add_item(ws, person, _picture("astronaut"), "confirmed")
    later, match_id = add_item(ws, person, _picture("rocket"), "candidate")
    path = workspace_bank_file(ws.root)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=_serve, args=(tmp_path, port, i), daemon=True) for i in range(2)]
    for w in workers:
        w.start()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"http://127.0.0.1:{port}/m/lookup"

    def everyone_sees(analysis: Analysis) -> bool:
        """Whether 12 fresh connections (spread over both workers by the kernel) all find the item."""
        ok = True
        for _ in range(12):
            with httpx.Client(headers=headers, timeout=10) as c:
                r = c.get(url, params={"signal": _pdq(analysis)})
                assert r.status_code == 200, r.text
                ok &= [m["bank_id"] for m in r.json()["matches"]] == [analysis.sha256]
        return ok

    def nobody_sees(analysis: Analysis) -> bool:
        for _ in range(12):
            with httpx.Client(headers=headers, timeout=10) as c:
                if c.get(url, params={"signal": _pdq(analysis)}).json()["matches"]:
                    return False
        return True

    def within_5_s(check: Any, analysis: Analysis, what: str) -> None:
        start = time.monotonic()
        while not check(analysis):
            assert time.monotonic() - start < 5, what
            time.sleep(0.1)

    def builds() -> int:
        return sum(
            p.read_text().count("built the bank file") for p in tmp_path.glob("worker-*.log") if p.exists()
        )

    try:
        deadline = time.monotonic() + 120
        status = None
        while status != 200:
            try:
                with httpx.Client(headers=headers, timeout=5) as c:
                    status = c.get(url, params={"signal": _pdq(banked)}).status_code
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the server did not start (last status: {status})"
            time.sleep(0.2)
        for _ in range(4):  # both workers answer from the file
            assert everyone_sees(banked)
        assert path.exists() and builds() == 1, "one worker built the file, the other mapped it"

        with ws.session() as s:
            review_match(s, match_id=match_id, decision="confirmed", actor="tests")
        within_5_s(everyone_sees, later, "the confirmation did not show within 5 s")
        assert builds() == 1, "a confirmation does not rebuild the file"

        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        time.sleep(3)  # past the next check of every worker
        assert everyone_sees(banked) and everyone_sees(later)
        assert builds() == 2, "the damaged file was rebuilt once"

        with ws.session() as s:
            forget_person(s, person, vault=ws.vault)
        within_5_s(nobody_sees, banked, "the erased person's items still matched after 5 s")
        assert nobody_sees(later)
        raw = path.read_bytes()
        assert banked.sha256.encode() not in raw and bytes.fromhex(_pdq(banked)) not in raw
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.join(10)
        ws.close()


def test_reclaim_serve_workers_shares_the_bank_file(tmp_path: Path) -> None:
    """``reclaim serve --workers 2`` (uvicorn's process manager, a factory per worker): lookups answered
    from the workspace's bank file, a confirmation visible within 5 s."""
    from reclaim.server.app import create_app
    from reclaim.server.auth import create_token, create_user

    settings = _settings(tmp_path)
    app = create_app(settings)
    ws = app.state.workspace
    with ws.session() as s:
        token = create_token(s, create_user(s, username="p", password="bank file app test", role="platform"))
        s.commit()
    person = _person(ws)
    banked, _ = add_item(ws, person, _picture("astronaut"), "confirmed")
    later, match_id = add_item(ws, person, _picture("rocket"), "candidate")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {
        "RECLAIM_PASSPHRASE": settings.passphrase,
        "RECLAIM_SECRET_KEY": settings.secret_key,
        "RECLAIM_WORKSPACE": str(settings.workspace),
        "RECLAIM_COOKIE_SECURE": "1",
    }
    command = [sys.executable, "-m", "reclaim.cli", "serve", "--server-mode", "--workers", "2", "--port"]
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([*command, str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/m/lookup"
    headers = {"Authorization": f"Bearer {token}"}

    def matches(analysis: Analysis) -> list[str]:
        with httpx.Client(headers=headers, timeout=10) as c:
            r = c.get(url, params={"signal": _pdq(analysis)})
            assert r.status_code == 200, r.text
            return [m["bank_id"] for m in r.json()["matches"]]

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                assert matches(banked) == [banked.sha256]
                break
            except httpx.TransportError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        path = workspace_bank_file(ws.root)
        assert path.exists()
        inode = path.stat().st_ino
        for _ in range(10):
            assert matches(banked) == [banked.sha256]
        with ws.session() as s:
            review_match(s, match_id=match_id, decision="confirmed", actor="tests")
        start = time.monotonic()
        while not all(matches(later) == [later.sha256] for _ in range(12)):
            assert time.monotonic() - start < 5, "the confirmation did not show within 5 s"
            time.sleep(0.1)
        assert path.stat().st_ino == inode, "neither worker rebuilt the file"
    finally:
        server.terminate()
        server.wait(20)
        log.close()
        ws.close()
