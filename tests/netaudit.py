"""A network audit by system calls: run a command under ``strace -f`` and list every DNS query and every
connection or datagram that goes anywhere but loopback (or the hosts the user named), naming the
destination and, for DNS, the name asked for.

Why system calls: a library can reach the network from C (onnxruntime's telemetry does, from its own
threads) where no Python-level socket patch would see it. ``strace -f`` follows every thread and child, so
a scan's worker processes and a server's threads are covered too.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

STRACE = shutil.which("strace")

CI_MARKERS = (
    "CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL",
    "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER",
    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI", "ORT_RUNNING_UNIT_TESTS",
)  # fmt: skip
"""onnxruntime silences its telemetry by itself when one of these is set (it detects CI). The audit removes
them, so it sees what a victim's laptop would do, not what a CI runner does."""

TELEMETRY_SWITCHES = ("ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED")
"""Removed from the audited command's environment: reclaim must switch telemetry off itself."""


def audit_env(base: Mapping[str, str], home: Path, **extra: str) -> dict[str, str]:
    """The environment for an audited command: a fresh HOME (nothing queued by an earlier run), no CI
    markers, no telemetry switch inherited from the test process."""
    env = {k: v for k, v in base.items() if k not in CI_MARKERS and k not in TELEMETRY_SWITCHES}
    env.pop("XDG_CACHE_HOME", None)
    env["HOME"] = str(home)
    env.update(extra)
    return env


_ADDR4 = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_ADDR6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')
_CALL = re.compile(r"^(\d+)\s+(?:<\.\.\. )?(connect|sendto|sendmsg|sendmmsg)\b")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Contact:
    pid: int
    call: str
    host: str
    port: int
    dns_name: str | None

    def __str__(self) -> str:
        what = f"DNS query for {self.dns_name} " if self.dns_name else ""
        return f"{what}{self.call} to {self.host}:{self.port} (pid {self.pid})"


def _unescape(text: str) -> bytes:
    """strace's C escaping (\\n, \\t, \\ooo octal, \\xhh) back to bytes."""
    out = bytearray()
    i = 0
    simple = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "a": 7, "b": 8, "\\": 92, '"': 34}
    while i < len(text):
        c = text[i]
        if c != "\\":
            out += c.encode("latin-1", "replace")
            i += 1
            continue
        n = text[i + 1] if i + 1 < len(text) else ""
        if n in simple:
            out.append(simple[n])
            i += 2
        elif n == "x":
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        elif n.isdigit():
            j = i + 1
            while j < len(text) and j < i + 4 and text[j] in "01234567":
                j += 1
            out.append(int(text[i + 1 : j], 8) & 0xFF)
            i = j
        else:
            out += n.encode("latin-1", "replace")
            i += 2
    return bytes(out)


def dns_question(payload: bytes) -> str | None:
    """The name a DNS query asks for, or None when ``payload`` is not a DNS query."""
    if len(payload) < 17 or payload[2] & 0x80 or payload[4:6] != b"\x00\x01":
        return None
    labels, i = [], 12
    while i < len(payload):
        n = payload[i]
        if n == 0:
            return ".".join(labels) or None
        if n > 63 or i + 1 + n > len(payload):
            return None
        labels.append(payload[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return None


def _is_local(host: str, allowed: Iterable[str]) -> bool:
    if host in allowed:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def contacts(trace: str, *, allowed_hosts: Iterable[str] = ()) -> list[Contact]:
    """Every DNS query (to any server, loopback resolvers included) and every connection or datagram to a
    host that is neither loopback nor in ``allowed_hosts``, in the order they happened."""
    allowed = set(allowed_hosts)
    found: list[Contact] = []
    last_dest: dict[int, tuple[str, int]] = {}
    for line in trace.splitlines():
        m = _CALL.match(line)
        if not m:
            continue
        pid, call = int(m.group(1)), m.group(2)
        addr = _ADDR4.search(line) or _ADDR6.search(line)
        if addr:
            dest = (addr.group(2), int(addr.group(1)))
            last_dest[pid] = dest
        elif call == "connect":
            continue  # AF_UNIX, AF_NETLINK: local by nature
        else:
            dest = last_dest.get(pid, ("", 0))
        name = None
        if call != "connect":
            for s in _STRING.findall(line):
                name = dns_question(_unescape(s))
                if name:
                    break
        if name or (addr and not _is_local(dest[0], allowed)):
            found.append(Contact(pid, call, dest[0] or "?", dest[1], name))
    return found


def destinations(trace: str) -> set[tuple[str, int]]:
    """Every internet address (host, port) the traced processes connected or sent to, loopback included."""
    found = set()
    for line in trace.splitlines():
        if _CALL.match(line) and (addr := _ADDR4.search(line) or _ADDR6.search(line)):
            found.add((addr.group(2), int(addr.group(1))))
    return found


def traced(
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` under ``strace -f``, its network system calls written to ``log``."""
    assert STRACE is not None
    cmd = [STRACE, "-f", "-qq", "-s", "512", "-e", "trace=connect,sendto,sendmsg,sendmmsg", "-e",
           "signal=none", "-o", str(log), *argv]  # fmt: skip
    proc = subprocess.run(
        cmd, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv[:4])} … exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def popen_traced(
    argv: Sequence[str], log: Path, *, env: Mapping[str, str], output: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` under ``strace -f`` (for a server), its output written to ``output``."""
    assert STRACE is not None
    cmd = [STRACE, "-f", "-qq", "-s", "512", "-e", "trace=connect,sendto,sendmsg,sendmmsg", "-e",
           "signal=none", "-o", str(log), *argv]  # fmt: skip
    with output.open("wb") as out:
        return subprocess.Popen(
            cmd, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_traced(proc: subprocess.Popen[bytes]) -> None:
    """End what :func:`popen_traced` started: SIGTERM to its whole process group (terminating strace alone
    detaches it and leaves the traced server running), up to 15 s for every member to exit, then SIGKILL
    to whatever is left."""
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait(5)


def telemetry_store(home: Path) -> list[Path]:
    """What onnxruntime's telemetry uploader leaves in HOME when it starts (a device id, an event queue)."""
    root = home / ".cache" / "Microsoft"
    return sorted(p for p in root.rglob("*")) if root.exists() else []


def read_logs(paths: Iterable[Path]) -> str:
    return "".join(p.read_text(errors="replace") for p in paths if p.exists())
