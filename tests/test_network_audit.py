"""Nothing leaves the machine unless the user asks (issue 16): every command a victim or an advocate runs is
traced at the system-call level (``strace -f``, every thread and worker process), on a fresh workspace and
a fresh HOME, with the environment variables that make onnxruntime silence itself in CI removed. Any DNS
query, or any connection or datagram outside loopback, fails the test and names the destination. The
commands that are meant to talk to the network (``timestamp --tsa``, ``takedown send``) are run against
local servers and may reach only the host the user named.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pillow_heif
import pytest
from PIL import Image

from reclaim.demo import build_sample_export, paste_face, sample_picture
from tests.conftest import PASSPHRASE, SHARED_DATA
from tests.netaudit import (
    STRACE,
    audit_env,
    contacts,
    destinations,
    popen_traced,
    read_logs,
    stop_traced,
    telemetry_store,
    traced,
)
from tests.tsa_server import make_tsa, openssl_ts_available, running_tsa

pytestmark = pytest.mark.slow

CONTACT = "advocate@support.example"
RECLAIM = str(Path(sys.executable).with_name("reclaim"))


@pytest.fixture(scope="module")
def strace() -> str:
    if STRACE is None:
        if os.environ.get("CI"):
            pytest.fail("strace is not installed: .ci/run installs Debian's strace for this audit")
        pytest.skip("strace is not installed (apt-get install strace)")
    return STRACE


class Audit:
    """One audited session: a HOME, a workspace, a log per command, and the verdict over all of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        self.workspace = root / "ws"
        self.logs: list[Path] = []
        self.env = audit_env(
            os.environ, self.home, RECLAIM_PASSPHRASE=PASSPHRASE, RECLAIM_WORKSPACE=str(self.workspace)
        )

    def log(self, name: str) -> Path:
        path = self.root / f"strace-{len(self.logs):02d}-{name}.log"
        self.logs.append(path)
        return path

    def run(self, *args: str, timeout: float = 600) -> str:
        proc = traced([RECLAIM, *args], self.log(args[0]), env=self.env, cwd=self.root, timeout=timeout)
        return proc.stdout

    def json(self, *args: str) -> object:
        return json.loads(self.run(*args, "--json"))

    def assert_nothing_left(self) -> None:
        found = contacts(read_logs(self.logs))
        assert not found, "reached the network without being asked:\n" + "\n".join(map(str, found))
        store = telemetry_store(self.home)
        assert not store, "onnxruntime's telemetry uploader started and wrote: " + ", ".join(
            str(p.relative_to(self.home)) for p in store
        )


def _gif(path: Path) -> None:
    frames = [Image.new("RGB", (64, 48), (i * 40, 90, 160)) for i in range(4)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _heic(path: Path) -> None:
    """An iPhone-style HEIC holding the demo person's face pasted into a scene (decoded by libheif)."""
    pillow_heif.from_pillow(paste_face(sample_picture("coffee"), width=140, at=(0.5, 0.3))).save(
        path, format="HEIF", quality=80
    )


def _mp4(path: Path) -> None:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            pixels = np.full((48, 64, 3), i * 12, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    path.write_bytes(buf.getvalue())


def _material(root: Path) -> list[Path]:
    """The sample Telegram export, a GIF, a HEIC photo, a video and, where ../shared/data is beside the repo,
    every C2PA fixture (remote manifests and CAWG identities included)."""
    sample = build_sample_export(root / "ChatExport")
    extra = root / "extra"
    extra.mkdir()
    _gif(extra / "animated.gif")
    _heic(extra / "IMG_0001.HEIC")
    _mp4(extra / "clip.mp4")
    for sub in ("c2pa", "c2pa_generated", "watermark"):
        src = SHARED_DATA / "provenance" / sub
        if src.is_dir():
            for f in src.iterdir():
                if f.is_file():
                    shutil.copyfile(f, extra / f"{sub}-{f.name}")
    return [sample.root, extra]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def audit(tmp_path: Path, strace: str) -> Iterator[Audit]:
    yield Audit(tmp_path)


def test_the_whole_loop_reaches_no_network(audit: Audit) -> None:
    """demo, init, person add, scan (pool mode), matches, explain, review, evidence export and verify,
    takedown draft, hashes export: no DNS query, no connection but loopback, no telemetry store."""
    audit.run("demo")
    sample_root, extra = _material(audit.root / "material")
    audit.run("init")
    sample = build_sample_export(audit.root / "enrol")
    photos = [a for p in sample.enrol_photos for a in ("--photo", str(p))]
    person = audit.json("person", "add", "Client 07", *photos, "--known-image", str(sample.known_image),
                        "--consent", "audit", "--keep-photos")  # fmt: skip
    assert isinstance(person, dict)
    pid = person["person_id"]
    report = audit.json("scan", str(sample_root), str(extra), "--workers", "2")
    assert isinstance(report, dict) and report["face_matches"] >= 1
    assert not [e for e in report["errors"] if e["path"].endswith(".HEIC")]  # decoded, not refused
    matches = audit.json("matches")
    assert isinstance(matches, list)
    chat = next(m for m in matches if any(s["source"] == "telegram" for s in m["sightings"]))
    audit.run("explain", chat["match_id"])
    audit.run("review", chat["match_id"], "--confirm", "--cluster")
    package = audit.root / "case.zip"
    audit.run("evidence", "export", "--person", pid, "--out", str(package))
    audit.run("evidence", "verify", str(package))
    audit.run("takedown", "draft", "--person", pid, "--contact", CONTACT)
    audit.run("hashes", "export", "--format", "te", "--out", str(audit.root / "confirmed.txt"))
    audit.assert_nothing_left()


def test_the_server_reaches_no_network_when_idle(audit: Audit) -> None:
    """serve started, pages loaded, left idle for 20 s."""
    audit.run("init")
    port = _free_port()
    output = audit.root / "serve.out"
    proc = popen_traced([RECLAIM, "serve", "--host", "127.0.0.1", "--port", str(port)],
                        audit.log("serve"), env=audit.env, output=output, cwd=audit.root)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/login", timeout=5) as resp:
                    assert resp.status == 200
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"the server did not start: {output.read_text()[-2000:]}")
                time.sleep(0.3)
        for path in ("/", "/login", "/static/app.css"):
            # A redirect to the login page or a 404 is fine: the audit is about what the server sends.
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{base}{path}", timeout=5).close()
        time.sleep(20)
    finally:
        stop_traced(proc)
    audit.assert_nothing_left()


def test_network_commands_reach_only_the_hosts_named(
    audit: Audit, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """timestamp --tsa and takedown send talk to the local servers the user named, and to nothing else."""
    from aiosmtpd.controller import Controller

    if reason := openssl_ts_available():
        pytest.skip(reason)
    audit.run("init")
    sample = build_sample_export(audit.root / "material")
    photos = [a for p in sample.enrol_photos for a in ("--photo", str(p))]
    person = audit.json("person", "add", "Client 07", *photos, "--consent", "audit")
    assert isinstance(person, dict)
    audit.run("scan", str(sample.root), "--workers", "2")
    matches = audit.json("matches")
    assert isinstance(matches, list) and matches
    audit.run("review", matches[0]["match_id"], "--confirm", "--cluster")

    with running_tsa(make_tsa(tmp_path_factory.mktemp("tsa"))) as tsa:
        audit.run("timestamp", "--tsa", tsa.url)
        tsa_port = tsa.server_address[1]

    class Collect:
        def __init__(self) -> None:
            self.messages: list[bytes] = []

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            self.messages.append(getattr(envelope, "content", b""))
            return "250 OK"

    handler = Collect()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        drafted = audit.json("takedown", "draft", "--person", person["person_id"], "--platform",
                             "email", "--to", "abuse@host.example", "--contact", CONTACT)  # fmt: skip
        assert isinstance(drafted, dict) and drafted["notices"]
        audit.env.update(RECLAIM_SMTP_HOST="127.0.0.1", RECLAIM_SMTP_PORT=str(port),
                         RECLAIM_SMTP_TLS="none", RECLAIM_SMTP_FROM=CONTACT)  # fmt: skip
        audit.run("takedown", "send", drafted["notices"][0]["notice_id"])
    finally:
        controller.stop()
    assert len(handler.messages) == 1
    named = {("127.0.0.1", tsa_port), ("127.0.0.1", port)}
    reached = destinations(read_logs(audit.logs))
    assert reached == named, f"reached {sorted(reached - named)} besides the servers named {sorted(named)}"
    audit.assert_nothing_left()


def test_the_audit_reads_what_strace_prints() -> None:
    """The parser on lines strace printed when onnxruntime's telemetry was on (issue 16), plus loopback and
    local-socket lines it must let pass."""
    trace = "\n".join([
        '7475  connect(8, {sa_family=AF_INET, sin_port=htons(53), '
        'sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
        '7475  sendto(8, "\\355]\\1\\0\\0\\1\\0\\0\\0\\0\\0\\0'
        '\\6mobile\\6events\\4data\\tmicrosoft\\3com\\0\\0\\1\\0\\1", 50,'
        " MSG_NOSIGNAL, NULL, 0 <unfinished ...>",
        '7474  connect(9, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}, 28 <unfinished ...>',
        '7476  connect(5, {sa_family=AF_INET, sin_port=htons(8080), '
        'sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        '7477  connect(6, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT',
        "7478  sendmsg(18, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base=\"\\10\", iov_len=1}]}, 0) = 1",
    ])  # fmt: skip
    found = [str(c) for c in contacts(trace)]
    assert found == [
        "connect to 10.255.255.53:53 (pid 7475)",
        "DNS query for mobile.events.data.microsoft.com sendto to 10.255.255.53:53 (pid 7475)",
        "connect to 2001:db8::1:443 (pid 7474)",
    ]
    assert destinations(trace) == {("10.255.255.53", 53), ("2001:db8::1", 443), ("127.0.0.1", 8080)}
