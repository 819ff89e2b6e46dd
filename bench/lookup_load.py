"""Load on loopback: ``GET /m/lookup`` against a hash bank of 1M (or 10M) PDQ hashes.

The bars: "1M PDQ hashes ≥ 500 requests/s with p99 ≤ 50 ms and 0 errors" (issue 10) and "10M PDQ
hashes, 2 workers, PSS ≤ 2 GB, ≥ 800 requests/s, p99 ≤ 25 ms, 0 errors, every planted hit found, a
confirmation visible within 5 s" (issue 13; the exit status follows this one).

A fresh SQLite workspace in server mode gets one platform account and its API token, and one item with
a candidate match. The bank file of ``--hashes`` random PDQ hashes (seeded) is built once, in a separate
process (``HashBank.attach``: the numbers show its build time and size); then ``--workers`` server
processes each build the real app (``create_app``), attach the file (memory-mapped: they share it through
the page cache; the report says how many rebuilt it, which must be 0) and serve with uvicorn on one
SO_REUSEPORT socket on 127.0.0.1 (access log off), as ``uvicorn --workers N`` would. ``--private-banks``
fills each process's own in-memory bank instead (the old way). This process is the load generator:
``--concurrency`` keep-alive HTTP/1.1 connections on asyncio streams (a minimal client, so the generator
costs little CPU), each sending the next request as soon as its previous answer arrived (closed loop,
like wrk; on uvloop when installed), until ``--requests`` are done or ``--seconds`` passed. Every request
goes through the server as deployed: uvicorn (httptools and uvloop unless ``--http h11``), the bearer
token (its cache; the database every few seconds), the ``/m/lookup`` fast path, the index, JSON. Server
and generator share the machine's cores (2 on the development VM): the report gives the server's CPU per
request and the generator's share of the CPU, so the cost of the server can be read apart.

Memory: the servers' PSS from ``/proc/PID/smaps_rollup`` added up (shared pages divided among the
processes mapping them, so counted once in the sum) and their RSS added up (shared pages counted once per
process). After the load, the planted item's match is confirmed in the database (``review_match``) and the
generator times how long until 8 fresh connections in a row (spread over the workers) all find it.

Queries: ``--known-share`` of them are banked hashes with 0-31 random bits flipped (each must come back
with its bank id at exactly that distance: "hits"), a few are banked hashes with 40-64 bits flipped
(must not come back), the rest are fresh random hashes. 200 warm-up requests (the first one loads the
database part of the bank) are not counted.

``--compare-faiss`` also times the index alone: signals.index.MultiIndexHash against faiss
``IndexBinaryMultiHash(256, 16, 16)`` with ``nflip=1`` (both exact at radius 31), single-threaded.

    python bench/lookup_load.py                               # 1M hashes, 20,000 requests, ≤ 60 s
    python bench/lookup_load.py --hashes 10000000 --workers 2 --out docs/hash-api.md
    python bench/lookup_load.py --compare-faiss --out docs/hash-api.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

SEED = 20240601
WARMUP = 200
MARK_START = "<!-- lookup_load:start -->"
MARK_END = "<!-- lookup_load:end -->"


# --- the server process ---------------------------------------------------------------------------------


def _rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _settings(root: Path) -> Any:
    from reclaim.server.settings import ServerSettings

    return ServerSettings(
        workspace=root / "ws",
        passphrase="load benchmark passphrase",
        secret_key="Tq8vX2pL9mZr4Kw7Yb3Nc6Hd1Jf5Gs0Ae-UiOoPl_QxRt",
        mode="server",
        cookie_secure=True,
    )


def _pss_mb(pid: int | None) -> dict[str, float]:
    """Proportional set size (shared pages divided among the processes mapping them) and RSS."""
    out = {"pss": float("nan"), "rss": float("nan")}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key = line.split(":")[0].lower()
        if key in out:
            out[key] = int(line.split()[1]) / 1024
    return out


@dataclass
class Planted:
    """An item with a candidate match in the workspace: confirming it must show in lookups."""

    match_id: str
    sha256: str
    pdq: str


def make_workspace(root: Path) -> tuple[str, Planted]:
    """A fresh server workspace with one platform account (returns its API token) and one item with a
    candidate match (a sample picture; confirmed during the run to time how soon lookups see it)."""
    from PIL import Image

    from reclaim.demo import jpeg, sample_picture
    from reclaim.scan.analyze import analyze_bytes
    from reclaim.server.app import create_app
    from reclaim.server.auth import create_token, create_user
    from reclaim.store.models import Item, Match, Person, Signal

    app = create_app(_settings(root))
    a = analyze_bytes(jpeg(Image.fromarray(sample_picture("rocket"))), faces=False)
    try:
        with app.state.workspace.session() as s:
            user = create_user(s, username="platform", password="load benchmark password", role="platform")
            token = create_token(s, user, label="bench")
            person = Person(name="Load Benchmark")
            item = Item(
                sha256=a.sha256,
                md5=a.md5,
                size=a.size,
                mime=a.mime,
                kind=a.kind,
                width=a.width,
                height=a.height,
                frame_count=a.frame_count,
            )
            s.add_all([person, item])
            s.flush()
            for v in a.signals:
                s.add(
                    Signal(
                        item_id=item.id,
                        signal_type=v.signal_type,
                        frame_index=v.frame_index,
                        variant=v.variant,
                        value=v.value,
                        quality=v.quality,
                    )
                )
            match = Match(person_id=person.id, item_id=item.id, kind="face", status="candidate", distance=0.3)
            s.add(match)
            s.commit()
            pdq = next(v.value for v in a.signals if v.signal_type == "pdq" and v.variant == 0)
            planted = Planted(match.id, a.sha256, pdq)
    finally:
        app.state.workspace.close()
    return token, planted


def confirm(root: Path, planted: Planted) -> None:
    from reclaim.review.service import review_match
    from reclaim.server.app import create_app

    app = create_app(_settings(root))
    try:
        with app.state.workspace.session() as s:
            review_match(s, match_id=planted.match_id, decision="confirmed", actor="bench")
    finally:
        app.state.workspace.close()


def _source(hashes: int, seed: int) -> str:
    return f"lookup_load synthetic hashes={hashes} seed={seed}"


def _synthetic(hashes: int, seed: int) -> tuple[list[str], np.ndarray]:
    rows = np.random.default_rng(seed).integers(0, 256, (hashes, 32), dtype=np.uint8)
    return [f"synthetic-{i:07d}" for i in range(hashes)], rows


def build_bank_file(path: Path, hashes: int, seed: int) -> dict[str, Any]:
    """Build the shared bank file once (a separate process, as a deployment step would)."""
    from reclaim.server.bank import HashBank

    start = time.perf_counter()
    built = HashBank().attach(path, _source(hashes, seed), lambda: _synthetic(hashes, seed))
    return {"built": built, "build_s": time.perf_counter() - start, "file_mb": path.stat().st_size / 2**20}


def serve(
    root: Path, port: int, hashes: int, seed: int, bank_file: Path | None, out: Any, http: str = "auto"
) -> None:
    """One server process: the app over the shared workspace, its bank filled, on a SO_REUSEPORT socket
    (the kernel spreads connections over the processes, as ``uvicorn --workers N`` would). With
    ``bank_file`` the bank maps that file (built before; shared through the page cache); without, each
    process fills its own copy in memory (``HashBank.add_many``)."""
    import uvicorn

    from reclaim.server.app import create_app

    app = create_app(_settings(root))
    rss_before = _rss_mb()
    start = time.perf_counter()
    if bank_file is None:
        ids, rows = _synthetic(hashes, seed)
        app.state.hash_bank.add_many(ids, rows)
        del ids, rows
        rebuilt = True
    else:
        rebuilt = app.state.hash_bank.attach(
            bank_file, _source(hashes, seed), lambda: _synthetic(hashes, seed)
        )
    build_s = time.perf_counter() - start
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # inherited by accepted connections: uvicorn does not set it on sockets handed to it, and without it
    # Nagle's algorithm and delayed ACKs stall every response by ≈ 40 ms
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    out.send({"build_s": build_s, "bank_mb": _rss_mb() - rss_before, "rebuilt": rebuilt})
    out.close()
    # "auto": httptools and uvloop when installed (reclaim depends on both), else h11 and asyncio
    loop = "asyncio" if http == "h11" else "auto"
    config = uvicorn.Config(app, log_level="warning", access_log=False, http=http, loop=loop)
    uvicorn.Server(config).run(sockets=[sock])


# --- the load generator ----------------------------------------------------------------------------------


@dataclass
class Query:
    path: bytes
    expect_id: str | None = None  # must be among the matches at expect_distance
    expect_distance: int = 0
    forbid_id: str | None = None  # must not be among the matches


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    hits: int = 0
    hit_checks: int = 0
    far_checks: int = 0
    far_found: int = 0
    random_matches: int = 0


def make_queries(n: int, hashes: int, seed: int, known_share: float) -> list[Query]:
    rows = np.random.default_rng(seed).integers(0, 256, (hashes, 32), dtype=np.uint8)
    rng = np.random.default_rng(seed + 1)
    out = []
    for _ in range(n):
        r = rng.random()
        if r < known_share + 0.02:
            i = int(rng.integers(0, hashes))
            near = r < known_share
            d = int(rng.integers(0, 32)) if near else int(rng.integers(40, 65))
            bits = np.unpackbits(rows[i])
            bits[rng.choice(256, d, replace=False)] ^= 1
            value = bytes(np.packbits(bits)).hex()
            bank_id = f"synthetic-{i:07d}"
            q = Query(b"", bank_id, d) if near else Query(b"", forbid_id=bank_id)
        else:
            value = bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex()
            q = Query(b"")
        q.path = ("/m/lookup?" + urlencode({"signal_type": "pdq", "signal": value})).encode()
        out.append(q)
    return out


_CL = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


async def run_load(
    port: int, token: str, queries: list[Query], concurrency: int, seconds: float, res: Results, count: bool
) -> float:
    header = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nAccept: */*\r\n\r\n".encode()
    cursor = 0
    deadline = time.perf_counter() + seconds

    def check(q: Query, body: bytes) -> None:
        matches = json.loads(body)["matches"]
        if q.expect_id is not None:
            res.hit_checks += 1
            res.hits += any(
                m["bank_id"] == q.expect_id and m["distance"] == q.expect_distance for m in matches
            )
        elif q.forbid_id is not None:
            res.far_checks += 1
            res.far_found += any(m["bank_id"] == q.forbid_id for m in matches)
        else:
            res.random_matches += len(matches)

    async def worker() -> None:
        nonlocal cursor
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while cursor < len(queries) and time.perf_counter() < deadline:
                q = queries[cursor]
                cursor += 1
                t0 = time.perf_counter()
                try:
                    writer.write(b"GET " + q.path + b" HTTP/1.1\r\n" + header)
                    status = await reader.readline()
                    head = await reader.readuntil(b"\r\n\r\n")
                    m = _CL.search(head)
                    body = await reader.readexactly(int(m.group(1))) if m else b""
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                    res.errors.append(f"{type(exc).__name__}: {exc}")
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                elapsed = time.perf_counter() - t0
                if not status.startswith(b"HTTP/1.1 200"):
                    res.errors.append(status.decode(errors="replace").strip() + " " + body[:200].decode())
                    continue
                if count:
                    res.latencies.append(elapsed)
                    check(q, body)
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def _sees(port: int, token: str, planted: Planted, times: int) -> bool:
    """Whether ``times`` fresh connections (spread over the workers by the kernel) all find the item."""
    path = "/m/lookup?" + urlencode({"signal_type": "pdq", "signal": planted.pdq})
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    for _ in range(times):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request.encode())
        raw = await reader.read()
        writer.close()
        body = raw.split(b"\r\n\r\n", 1)[1]
        if not any(m["bank_id"] == planted.sha256 for m in json.loads(body)["matches"]):
            return False
    return True


def confirmation_latency(root: Path, port: int, token: str, planted: Planted, limit: float = 30) -> float:
    """Seconds from a reviewer's confirmation (committed) until every worker's lookups return the item."""
    if asyncio.run(_sees(port, token, planted, 1)):
        raise SystemExit("the planted item was in the bank before its confirmation")
    confirm(root, planted)
    start = time.perf_counter()
    while not asyncio.run(_sees(port, token, planted, 8)):
        if time.perf_counter() - start > limit:
            return float("inf")
        time.sleep(0.05)
    return time.perf_counter() - start


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))] * 1000 if s else float("nan")


def compare_index(hashes: int, seed: int, n_queries: int = 2000) -> dict[str, float]:
    try:
        import faiss  # optional: pip install faiss-cpu (not a dependency of reclaim)
    except ImportError:
        print("--compare-faiss: faiss is not installed (pip install faiss-cpu); comparison skipped")
        return {}

    from reclaim.signals.index import MultiIndexHash

    rows = np.random.default_rng(seed).integers(0, 256, (hashes, 32), dtype=np.uint8)
    queries = np.random.default_rng(seed + 2).integers(0, 256, (n_queries, 32), dtype=np.uint8)
    out: dict[str, float] = {}
    t = time.perf_counter()
    mih = MultiIndexHash(rows)
    out["numpy_build_s"] = time.perf_counter() - t
    out["numpy_mb"] = mih.nbytes / 2**20
    t = time.perf_counter()
    for q in queries:
        mih.search(q)
    out["numpy_ms"] = (time.perf_counter() - t) / n_queries * 1000
    del mih
    faiss.omp_set_num_threads(1)
    rss = _rss_mb()
    t = time.perf_counter()
    index = faiss.IndexBinaryMultiHash(256, 16, 16)
    index.nflip = 1
    index.add(rows)
    out["faiss_build_s"] = time.perf_counter() - t
    out["faiss_mb"] = _rss_mb() - rss
    t = time.perf_counter()
    for q in queries:
        index.range_search(q[None], 32)  # faiss's binary radius is exclusive: < 32 means ≤ 31
    out["faiss_ms"] = (time.perf_counter() - t) / n_queries * 1000
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_up(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--hashes", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=60.0, help="stop sending after this long")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1, help="server processes (like uvicorn --workers)")
    ap.add_argument("--known-share", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--compare-faiss", action="store_true")
    ap.add_argument(
        "--private-banks",
        action="store_true",
        help="each process builds its own bank in memory (the old way)",
    )
    ap.add_argument(
        "--http",
        choices=["auto", "httptools", "h11"],
        default="auto",
        help="uvicorn's HTTP parser (h11 also means the asyncio loop instead of uvloop)",
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, help="replace the measured block in this Markdown file")
    args = ap.parse_args()
    try:  # the load generator on uvloop too: less of the shared CPU for the client
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    port = _free_port()
    root = Path(tempfile.mkdtemp(prefix="reclaim-load-"))
    token, planted = make_workspace(root)
    ctx = mp.get_context("spawn")
    servers = []
    infos = []
    bank_file = None if args.private_banks else root / "bank" / "synthetic.bank"
    file_info: dict[str, Any] = {}
    try:
        if bank_file is not None:
            with ctx.Pool(1) as pool:
                file_info = pool.apply(build_bank_file, (bank_file, args.hashes, args.seed))
        for _ in range(args.workers):
            recv, send = ctx.Pipe(duplex=False)
            server = ctx.Process(
                target=serve,
                args=(root, port, args.hashes, args.seed, bank_file, send, args.http),
                daemon=True,
            )
            server.start()
            servers.append(server)
            infos.append(recv.recv())
        _wait_until_up(port)
        queries = make_queries(args.requests + WARMUP, args.hashes, args.seed, args.known_share)
        res = Results()
        asyncio.run(run_load(port, token, queries[:WARMUP], 4 * args.workers, 60, Results(), False))
        cpu0 = os.times()
        server_cpu0 = sum(_proc_cpu(s.pid) for s in servers)
        wall = asyncio.run(run_load(port, token, queries[WARMUP:], args.concurrency, args.seconds, res, True))
        cpu1 = os.times()
        server_cpu = sum(_proc_cpu(s.pid) for s in servers) - server_cpu0
        server_rss = sum(_rss_mb(s.pid) for s in servers if s.pid)
        memory = [_pss_mb(s.pid) for s in servers]
        visible_s = confirmation_latency(root, port, token, planted)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.join(10)
        shutil.rmtree(root, ignore_errors=True)
    info = {"build_s": max(i["build_s"] for i in infos), "bank_mb": max(i["bank_mb"] for i in infos)}
    done = len(res.latencies) + len(res.errors)
    result: dict[str, Any] = {
        "hashes": args.hashes,
        "requests": done,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "seconds": round(wall, 2),
        "rps": round(done / wall, 1),
        "p50_ms": round(pct(res.latencies, 50), 2),
        "p95_ms": round(pct(res.latencies, 95), 2),
        "p99_ms": round(pct(res.latencies, 99), 2),
        "max_ms": round(max(res.latencies) * 1000, 2) if res.latencies else None,
        "mean_ms": round(statistics.fmean(res.latencies) * 1000, 2) if res.latencies else None,
        "errors": len(res.errors),
        "hits": f"{res.hits}/{res.hit_checks}",
        "far_found": f"{res.far_found}/{res.far_checks}",
        "random_matches": res.random_matches,
        "bank_build_s": round(info["build_s"], 2),
        "bank_mb": round(info["bank_mb"]),
        "server_rss_mb": round(server_rss),
        "server_pss_mb": round(sum(m["pss"] for m in memory)),
        "bank_file": "private in-memory banks" if bank_file is None else "shared memory-mapped file",
        "bank_file_build_s": round(file_info.get("build_s", 0.0), 1),
        "bank_file_mb": round(file_info.get("file_mb", 0.0)),
        "workers_rebuilt": sum(bool(i["rebuilt"]) for i in infos) if bank_file is not None else None,
        "confirmation_visible_s": round(visible_s, 2),
        "server_cpu_s": round(server_cpu, 1),
        "client_cpu_s": round((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system), 1),
        "http": args.http,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if res.errors:
        result["first_errors"] = res.errors[:3]
    if args.compare_faiss:
        result["index"] = {k: round(v, 3) for k, v in compare_index(args.hashes, args.seed).items()}
    bar = (
        result["rps"] >= 800
        and result["p99_ms"] <= 25
        and not res.errors
        and res.hits == res.hit_checks
        and result["server_pss_mb"] <= 2048
        and visible_s <= 5
    )
    result["bar_met"] = bar
    if args.json:
        print(json.dumps(result, indent=2))
    report = render(result, args)
    print(report)
    if args.out:
        text = args.out.read_text(encoding="utf-8")
        if MARK_START not in text or MARK_END not in text:
            raise SystemExit(f"{args.out} has no {MARK_START} ... {MARK_END} block")
        head, rest = text.split(MARK_START, 1)
        tail = rest.split(MARK_END, 1)[1]
        args.out.write_text(f"{head}{MARK_START}\n{report}\n{MARK_END}{tail}", encoding="utf-8")
        print(f"wrote {args.out}")
    sys.exit(0 if bar else 1)


def _proc_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def render(r: dict[str, Any], args: argparse.Namespace) -> str:
    cmd = f"python bench/lookup_load.py --hashes {r['hashes']} --requests {args.requests} "
    cmd += f"--concurrency {r['concurrency']} --workers {r['workers']}"
    cpu_ms = r["server_cpu_s"] / max(1, r["requests"]) * 1000
    client_share = r["client_cpu_s"] / max(0.1, r["server_cpu_s"] + r["client_cpu_s"])
    cmd += f" --http {args.http}" if args.http != "auto" else ""
    cmd += (" --compare-faiss" if args.compare_faiss else "") + (
        " --private-banks" if args.private_banks else ""
    )
    if args.private_banks:
        bank = f"built in each process in {r['bank_build_s']} s, ≈ {r['bank_mb']} MB each"
    else:
        bank = (
            f"one {r['bank_file_mb']} MB file built once in {r['bank_file_build_s']} s, mapped by each "
            f"worker in {r['bank_build_s']} s (checksum checked; rebuilt by "
            f"{r['workers_rebuilt']} workers)"
        )
    lines = [
        "```",
        f"$ {cmd}",
        f"bank: {r['hashes']:,} random PDQ hashes, {bank}",
        f"server memory ({r['workers']} workers): PSS {r['server_pss_mb']} MB in all (shared pages counted "
        f"once), RSS {r['server_rss_mb']} MB added up",
        f"load: {r['requests']:,} GET /m/lookup in {r['seconds']} s over {r['concurrency']} keep-alive "
        f"connections; server and load generator on the same {r['cpus']} CPUs (load avg {r['load_avg_1m']})",
        f"throughput: {r['rps']} requests/s",
        f"latency: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms",
        f"errors: {r['errors']}",
        f"hits (banked hash, 0-31 bits flipped, found at that distance): {r['hits']}; "
        f"banked hash 40-64 bits away found: {r['far_found']}; matches for random hashes: "
        f"{r['random_matches']}",
        f"CPU: server {r['server_cpu_s']} s ({cpu_ms:.2f} ms a request), load generator "
        f"{r['client_cpu_s']} s ({client_share:.0%} of the CPU both used)",
    ]
    if r.get("index"):
        i = r["index"]
        lines.append(
            f"index alone, 1 thread: numpy multi-index {i['numpy_ms']} ms/query "
            f"(build {i['numpy_build_s']} s, {i['numpy_mb']:.0f} MB); faiss IndexBinaryMultiHash(256,16,16) "
            f"nflip=1 {i['faiss_ms']} ms/query (build {i['faiss_build_s']} s, ≈ {i['faiss_mb']:.0f} MB)"
        )
    lines.append(
        f"a reviewer's confirmation visible in every worker's lookups after {r['confirmation_visible_s']} s"
    )
    lines.append(
        "bar (≥ 800 requests/s, p99 ≤ 25 ms, 0 errors, every hit found, PSS ≤ 2 GB, confirmation ≤ 5 s): "
        + ("met" if r["bar_met"] else "NOT met")
    )
    lines.append("```")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
