"""Load on loopback: ``GET /m/lookup`` against a hash bank of 1M PDQ hashes.

The bar: "``/m/lookup`` against a bank of 1M PDQ hashes ≥ 500 requests/s with p99 ≤ 50 ms and 0 errors".

A server process builds the real app (``create_app``, server mode, a fresh SQLite workspace with one
platform account and its API token), fills ``app.state.hash_bank`` with ``--hashes`` random PDQ hashes
(seeded) through ``HashBank.add_many`` and serves it with uvicorn on 127.0.0.1 (one process, access log
off). This process is the load generator: ``--concurrency`` keep-alive HTTP/1.1 connections on asyncio
streams (a minimal client, so the generator costs little CPU), each sending the next request as soon as
its previous answer arrived (closed loop, like wrk), until ``--requests`` are done or ``--seconds``
passed. Every request goes through the full stack: bearer-token authentication against the database,
query validation, the index, JSON. Server and generator share the machine's cores (2 on the
development VM): the numbers are for both on one box.

Queries: ``--known-share`` of them are banked hashes with 0-31 random bits flipped (each must come back
with its bank id at exactly that distance: "hits"), a few are banked hashes with 40-64 bits flipped
(must not come back), the rest are fresh random hashes. 200 warm-up requests (the first one loads the
database part of the bank) are not counted.

``--compare-faiss`` also times the index alone: signals.index.MultiIndexHash against faiss
``IndexBinaryMultiHash(256, 16, 16)`` with ``nflip=1`` (both exact at radius 31), single-threaded.

    python bench/lookup_load.py                               # 1M hashes, 20,000 requests, ≤ 60 s
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
        secret_key="k" * 48,
        mode="server",
        cookie_secure=True,
    )


def make_workspace(root: Path) -> str:
    """A fresh server workspace with one platform account; returns its API token."""
    from reclaim.server.app import create_app
    from reclaim.server.auth import create_token, create_user

    app = create_app(_settings(root))
    try:
        with app.state.workspace.session() as s:
            user = create_user(s, username="platform", password="load benchmark password", role="platform")
            token = create_token(s, user, label="bench")
            s.commit()
    finally:
        app.state.workspace.close()
    return token


def serve(root: Path, port: int, hashes: int, seed: int, out: Any) -> None:
    """One server process: the app over the shared workspace, its bank filled, on a SO_REUSEPORT socket
    (the kernel spreads connections over the processes, as ``uvicorn --workers N`` would)."""
    import uvicorn

    from reclaim.server.app import create_app

    app = create_app(_settings(root))
    rss_before = _rss_mb()
    rows = np.random.default_rng(seed).integers(0, 256, (hashes, 32), dtype=np.uint8)
    start = time.perf_counter()
    app.state.hash_bank.add_many([f"synthetic-{i:07d}" for i in range(hashes)], rows)
    build_s = time.perf_counter() - start
    del rows
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # inherited by accepted connections: uvicorn does not set it on sockets handed to it, and without it
    # Nagle's algorithm and delayed ACKs stall every response by ≈ 40 ms
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    out.send({"build_s": build_s, "bank_mb": _rss_mb() - rss_before})
    out.close()
    config = uvicorn.Config(app, log_level="warning", access_log=False)
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
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, help="replace the measured block in this Markdown file")
    args = ap.parse_args()

    port = _free_port()
    root = Path(tempfile.mkdtemp(prefix="reclaim-load-"))
    token = make_workspace(root)
    ctx = mp.get_context("spawn")
    servers = []
    infos = []
    try:
        for _ in range(args.workers):
            recv, send = ctx.Pipe(duplex=False)
            server = ctx.Process(target=serve, args=(root, port, args.hashes, args.seed, send), daemon=True)
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
        "server_cpu_s": round(server_cpu, 1),
        "client_cpu_s": round((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system), 1),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if res.errors:
        result["first_errors"] = res.errors[:3]
    if args.compare_faiss:
        result["index"] = {k: round(v, 3) for k, v in compare_index(args.hashes, args.seed).items()}
    bar = result["rps"] >= 500 and result["p99_ms"] <= 50 and not res.errors and res.hits == res.hit_checks
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
    cmd += f"--concurrency {r['concurrency']}" + (" --compare-faiss" if args.compare_faiss else "")
    lines = [
        "```",
        f"$ {cmd}",
        f"bank: {r['hashes']:,} random PDQ hashes, built in {r['bank_build_s']} s, ≈ {r['bank_mb']} MB "
        f"(server RSS {r['server_rss_mb']} MB)",
        f"load: {r['requests']:,} GET /m/lookup in {r['seconds']} s over {r['concurrency']} keep-alive "
        f"connections; server and load generator on the same {r['cpus']} CPUs (load avg {r['load_avg_1m']})",
        f"throughput: {r['rps']} requests/s",
        f"latency: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms",
        f"errors: {r['errors']}",
        f"hits (banked hash, 0-31 bits flipped, found at that distance): {r['hits']}; "
        f"banked hash 40-64 bits away found: {r['far_found']}; matches for random hashes: "
        f"{r['random_matches']}",
        f"CPU: server {r['server_cpu_s']} s, load generator {r['client_cpu_s']} s",
    ]
    if r.get("index"):
        i = r["index"]
        lines.append(
            f"index alone, 1 thread: numpy multi-index {i['numpy_ms']} ms/query "
            f"(build {i['numpy_build_s']} s, {i['numpy_mb']:.0f} MB); faiss IndexBinaryMultiHash(256,16,16) "
            f"nflip=1 {i['faiss_ms']} ms/query (build {i['faiss_build_s']} s, ≈ {i['faiss_mb']:.0f} MB)"
        )
    lines.append(
        "bar (≥ 500 requests/s, p99 ≤ 50 ms, 0 errors, every hit found): "
        + ("met" if r["bar_met"] else "NOT met")
    )
    lines.append("```")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
