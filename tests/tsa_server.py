"""A real RFC 3161 Time-Stamping Authority for tests: ``openssl ts -reply`` behind ``http.server`` on
127.0.0.1 (port 0). Certificates (a CA and a TSA certificate with critical extendedKeyUsage timeStamping)
are made with the ``openssl`` CLI."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path


def openssl_ts_available() -> str | None:
    """None when ``openssl ts`` works, else the reason it does not."""
    exe = shutil.which("openssl")
    if exe is None:
        return "the openssl CLI is not installed"
    proc = subprocess.run([exe, "ts", "-help"], capture_output=True, text=True, check=False)
    if "-reply" not in proc.stdout + proc.stderr:
        return "this openssl has no 'ts' command"
    return None


def _run(*args: str | Path, cwd: Path | None = None) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, cwd=cwd)


@dataclass(frozen=True)
class TsaFiles:
    dir: Path
    ca_crt: Path
    tsa_crt: Path
    tsa_key: Path
    config: Path

    def der(self, pem: Path) -> bytes:
        out = subprocess.run(
            ["openssl", "x509", "-in", str(pem), "-outform", "DER"], check=True, capture_output=True
        )
        return out.stdout


def make_tsa(directory: Path, *, key: str = "rsa") -> TsaFiles:
    """A CA, a TSA key and certificate signed by it, and an openssl config with a ``tsa`` section.
    ``key`` is "rsa" (2048) or "ec" (P-256) for the TSA key."""
    d = directory
    d.mkdir(parents=True, exist_ok=True)
    _run(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        d / "ca.key",
        "-out",
        d / "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=Reclaim Test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    )
    newkey = (
        ["-newkey", "rsa:2048"] if key == "rsa" else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    )
    _run(
        "req",
        *newkey,
        "-nodes",
        "-keyout",
        d / "tsa.key",
        "-out",
        d / "tsa.csr",
        "-subj",
        f"/O=Reclaim Tests/CN=Test TSA ({key})",
    )
    (d / "ext.cnf").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=critical,timeStamping\n"
        "subjectKeyIdentifier=hash\n",
        encoding="utf-8",
    )
    _run(
        "x509",
        "-req",
        "-in",
        d / "tsa.csr",
        "-CA",
        d / "ca.crt",
        "-CAkey",
        d / "ca.key",
        "-CAcreateserial",
        "-out",
        d / "tsa.crt",
        "-days",
        "2",
        "-extfile",
        d / "ext.cnf",
    )
    (d / "tsaserial").write_text("01\n", encoding="utf-8")
    config = d / "tsa.cnf"
    config.write_text(
        f"""[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {d}
serial = $dir/tsaserial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
other_policies = 1.3.6.1.4.1.99999.2
digests = sha256, sha384, sha512
accuracy = secs:1
clock_precision_digits = 3
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
""",
        encoding="utf-8",
    )
    return TsaFiles(d, d / "ca.crt", d / "tsa.crt", d / "tsa.key", config)


class _Handler(BaseHTTPRequestHandler):
    server: _TsaServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        query = self.rfile.read(length)
        mode = self.server.mode
        self.server.requests.append(query)
        if mode == "http500":
            self._send(500, b"boom", "text/plain")
            return
        if mode == "garbage":
            self._send(200, b"<html>not a timestamp</html>", "text/html")
            return
        with tempfile.TemporaryDirectory() as tmp:
            req, resp = Path(tmp) / "req.tsq", Path(tmp) / "resp.tsr"
            req.write_bytes(query)
            f = self.server.files
            proc = subprocess.run(
                [
                    "openssl",
                    "ts",
                    "-reply",
                    "-config",
                    str(f.config),
                    "-queryfile",
                    str(req),
                    "-inkey",
                    str(f.tsa_key),
                    "-signer",
                    str(f.tsa_crt),
                    "-out",
                    str(resp),
                ],
                capture_output=True,
                check=False,
            )
            if proc.returncode != 0 or not resp.exists():
                self._send(500, proc.stderr, "text/plain")
                return
            self._send(200, resp.read_bytes(), "application/timestamp-reply")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _TsaServer(HTTPServer):
    def __init__(self, files: TsaFiles) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.mode = "ok"
        self.requests: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/tsa"


@contextmanager
def running_tsa(files: TsaFiles) -> Iterator[_TsaServer]:
    """Serve the TSA in a thread; stopped and its socket closed on exit."""
    server = _TsaServer(files)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
