"""The hash bank file: built once, memory-mapped by every process, rebuilt when damaged or stale, same answers
as the in-memory bank; a confirmation shows in a running 2-worker server within 5 s."""

from __future__ import annotations

import json
import multiprocessing as mp
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from reclaim.demo import jpeg
from reclaim.demo import sample_picture as _sk
from reclaim.review.service import review_match
from reclaim.server import bank as bank_module
from reclaim.server.bank import REFRESH_S, HashBank, read_bank_file
from reclaim.signals import index as index_module
from reclaim.signals.index import MultiIndexHash
from reclaim.store.models import Person

from .test_hashapi import add_item

N = 3000
SOURCE = f"test rows {N}"


def _rows(n: int = N, seed: int = 7) -> tuple[list[str], np.ndarray]:
    rows = np.random.default_rng(seed).integers(0, 256, (n, 32), dtype=np.uint8)
    return [f"t-{i:05d}" for i in range(n)], rows


def _near(rows: np.ndarray, rng: np.random.Generator, bits: int) -> str:
    value = np.unpackbits(rows[int(rng.integers(0, len(rows)))])
    value[rng.choice(256, bits, replace=False)] ^= 1
    return bytes(np.packbits(value)).hex()


@pytest.mark.parametrize("words", [12, 11])
def test_wide_layout_is_exact(monkeypatch: pytest.MonkeyPatch, words: int) -> None:
    """The 12-word layout (used from 4M hashes on) and the 11-word one (from 8M on) find exactly what brute
    force finds at radius ≤ 31."""
    monkeypatch.setattr(index_module, "WIDE_FROM", 1)
    if words == 11:
        monkeypatch.setattr(index_module, "WIDER_FROM", 1)
    _ids, rows = _rows(5000)
    index = MultiIndexHash(rows)
    assert len(index.widths) == words and sum(index.widths) == 256
    rng = np.random.default_rng(2)
    for _ in range(300):
        query = np.frombuffer(bytes.fromhex(_near(rows, rng, int(rng.integers(0, 40)))), dtype=np.uint8)
        radius = int(rng.integers(0, 32))
        distances = np.bitwise_count(rows ^ query).sum(axis=1)
        expected = np.flatnonzero(distances <= radius)
        found, found_distances = index.search(query, radius)
        assert found.tolist() == expected.tolist()
        assert found_distances.tolist() == distances[expected].tolist()


@pytest.mark.parametrize("layout", ["narrow", "wide"])
def test_results_identical_to_the_in_memory_bank(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    if layout == "wide":
        monkeypatch.setattr(index_module, "WIDE_FROM", 1)
    ids, rows = _rows()
    rows[1] = rows[0]  # two entries with one hash
    rows[2, :30] = rows[0, :30]  # and one a few bits away
    mapped, memory = HashBank(), HashBank()
    assert mapped.attach(tmp_path / "b.bank", SOURCE, lambda: (ids, rows))
    memory.add_many(ids, rows)
    rng = np.random.default_rng(1)
    queries = [_near(rows, rng, int(rng.integers(0, 40))) for _ in range(300)]
    queries += [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(100)]
    queries.append(bytes(rows[0]).hex())
    found = 0
    for q in queries:
        got = mapped.lookup("pdq", q)
        assert got == memory.lookup("pdq", q)
        found += bool(got)
    assert found > 200
    assert len(mapped.lookup("pdq", bytes(rows[0]).hex())) == 3
    assert list(mapped.rows()) == list(memory.rows())
    assert len(mapped) == mapped.pdq_count == N


def test_small_segments_by_brute_force_answer_like_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    ids, rows = _rows(1500)
    rows[1] = rows[0]
    bank = HashBank()
    bank.add_many(ids, rows)
    rng = np.random.default_rng(4)
    queries = [_near(rows, rng, int(rng.integers(0, 40))) for _ in range(200)]
    answers = []
    for limit in (0, 10**6):  # the index, then a popcount over every row
        monkeypatch.setattr(bank_module, "BRUTE_FORCE_MAX", limit)
        answers.append([bank.lookup("pdq", q) for q in queries])
    assert answers[0] == answers[1] and sum(map(len, answers[0])) > 100


def test_second_process_maps_the_file_without_rebuilding(tmp_path: Path) -> None:
    path = tmp_path / "b.bank"
    ids, rows = _rows()
    assert HashBank().attach(path, SOURCE, lambda: (ids, rows))
    built_at = path.stat().st_mtime_ns
    query = bytes(rows[5]).hex()
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from reclaim.server.bank import HashBank\n"
        "def fail(): raise SystemExit('rebuilt')\n"
        "bank = HashBank()\n"
        f"built = bank.attach(Path(sys.argv[1]), {SOURCE!r}, fail)\n"
        "maps = [l for l in open('/proc/self/maps') if sys.argv[1] in l]\n"
        f"print(json.dumps([built, len(maps), [m.bank_id for m in bank.lookup('pdq', {query!r})]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    built, maps, hits = json.loads(out.stdout)
    assert built is False and maps >= 1 and hits == ["t-00005"]
    assert path.stat().st_mtime_ns == built_at


@pytest.mark.parametrize("damage", ["truncate", "flip", "header", "stale", "empty"])
def test_damaged_or_stale_file_is_rebuilt(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "b.bank"
    ids, rows = _rows()
    assert HashBank().attach(path, SOURCE, lambda: (ids, rows))
    data = bytearray(path.read_bytes())
    source = SOURCE
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) - 5000] ^= 0x10
    elif damage == "header":
        data[20:40] = b"x" * 20
    elif damage == "empty":
        data = bytearray()
    else:
        source = "other rows"
    path.write_bytes(bytes(data))
    calls = []

    def build() -> tuple[list[str], np.ndarray]:
        calls.append(1)
        return ids, rows

    bank = HashBank()
    assert bank.attach(path, source, build) is True
    assert calls == [1]
    assert [m.bank_id for m in bank.lookup("pdq", bytes(rows[9]).hex())] == ["t-00009"]
    read_bank_file(path, source)  # the rebuilt file checks out
    assert not list(tmp_path.glob("*.tmp"))


# --- a running 2-worker server ------------------------------------------------------------------------------


def _settings(root: Path) -> Any:
    from reclaim.server.settings import ServerSettings

    return ServerSettings(
        workspace=root / "ws",
        passphrase="bank file test passphrase",
        secret_key="Tq8vX2pL9mZr4Kw7Yb3Nc6Hd1Jf5Gs0Ae-UiOoPl_QxRt",
        mode="server",
        cookie_secure=True,
    )


def _serve(root: Path, port: int) -> None:
    import uvicorn

    from reclaim.server.app import create_app

    app = create_app(_settings(root))
    app.state.hash_bank.attach(root / "bank" / "b.bank", SOURCE, lambda: _rows())
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])


def test_confirmation_visible_within_5_s_in_a_2_worker_server(tmp_path: Path) -> None:
    import httpx

    from reclaim.server.app import create_app
    from reclaim.server.auth import create_token, create_user

    app = create_app(_settings(tmp_path))
    ws = app.state.workspace
    with ws.session() as s:
        token = create_token(s, create_user(s, username="p", password="bank file test pw", role="platform"))
        person = Person(name="Test Person")
        s.add(person)
        s.commit()
        person_id = person.id
    analysis, match_id = add_item(ws, person_id, jpeg(Image.fromarray(_sk("rocket"))), "candidate")
    pdq = next(v.value for v in analysis.signals if v.signal_type == "pdq" and v.variant == 0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=_serve, args=(tmp_path, port), daemon=True) for _ in range(2)]
    for w in workers:
        w.start()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"http://127.0.0.1:{port}/m/lookup"

    def found() -> bool:
        """Whether 12 fresh connections (spread over both workers by the kernel) all see the item."""
        ok = True
        for _ in range(12):
            with httpx.Client(headers=headers, timeout=10) as c:
                r = c.get(url, params={"signal": pdq})
                assert r.status_code == 200, r.text
                ok &= any(m["bank_id"] == analysis.sha256 for m in r.json()["matches"])
        return ok

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with httpx.Client(headers=headers, timeout=5) as c:
                    if c.get(url, params={"signal": pdq}).status_code == 200:
                        break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        for _ in range(8):  # both workers up and their banks loaded (without the item)
            assert not found()
        with ws.session() as s:
            review_match(s, match_id=match_id, decision="confirmed", actor="tests")
        confirmed_at = time.monotonic()
        while not found():
            assert time.monotonic() - confirmed_at < 5, "the confirmation did not show within 5 s"
            time.sleep(0.1)
        assert REFRESH_S < 5
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.join(10)
        ws.close()
