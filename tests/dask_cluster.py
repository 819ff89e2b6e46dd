"""A real Dask cluster for the tests: a ``dask scheduler`` and ``dask worker`` processes (each under its
nanny, as deployed) on 127.0.0.1 with random ports, running reclaim from this checkout (PYTHONPATH), over
plain TCP or over TLS with a self-signed certificate made here."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SRC = Path(__file__).resolve().parents[1] / "src"
DASK = Path(sys.executable).parent / "dask"
START_TIMEOUT_S = 180.0


@dataclass
class TlsFiles:
    cert: Path
    key: Path

    @property
    def ca(self) -> Path:
        return self.cert  # self-signed: the certificate is its own authority

    def args(self) -> list[str]:
        return ["--tls-ca-file", str(self.ca), "--tls-cert", str(self.cert), "--tls-key", str(self.key)]

    def env(self) -> dict[str, str]:
        """Dask's own TLS settings for a client (what ``reclaim scan --scheduler tls://`` reads)."""
        return {
            "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(self.ca),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(self.cert),
            "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(self.key),
        }


def self_signed(folder: Path) -> TlsFiles:
    """A P-256 key and a self-signed CA certificate for 127.0.0.1 and localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reclaim test cluster")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(folder / "cluster.pem", folder / "cluster.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files.key.chmod(0o600)
    return files


@dataclass
class DaskCluster:
    address: str
    tls: TlsFiles | None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log: IO[bytes] | None = None

    def security(self) -> Any:
        from distributed.security import Security

        if self.tls is None:
            return None
        return Security(
            tls_ca_file=str(self.tls.ca),
            tls_client_cert=str(self.tls.cert),
            tls_client_key=str(self.tls.key),
            require_encryption=True,
        )

    def client(self) -> Any:
        from distributed import Client

        return Client(self.address, security=self.security(), timeout=30, set_as_default=False)

    def worker_pids(self) -> dict[str, int]:
        """Worker address → the pid of the worker process (the nanny's child)."""
        with self.client() as c:
            pids: dict[str, int] = c.run(os.getpid)
            return pids

    def stop(self) -> None:
        for p in reversed(self.processes):  # workers first, then the scheduler
            p.terminate()
        for p in self.processes:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if self.log is not None:
            self.log.close()


def start_cluster(
    folder: Path, *, workers: int = 2, tls: TlsFiles | None = None, env_extra: dict[str, str] | None = None
) -> DaskCluster:
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ) | (env_extra or {})
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    tls_args = tls.args() if tls else []
    scheduler_file = folder / "scheduler.json"
    log = open(folder / "cluster.log", "ab")  # noqa: SIM115  (kept open for the processes' lifetime)
    common = {"env": env, "stdout": log, "stderr": subprocess.STDOUT, "cwd": folder}
    cluster = DaskCluster("", tls, log=log)
    try:
        cluster.processes.append(
            subprocess.Popen(
                [
                    str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                    "--scheduler-file", str(scheduler_file), *(["--protocol", "tls"] if tls else []),
                    *tls_args,
                ],
                **common,  # type: ignore[call-overload]
            )
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            if time.monotonic() > deadline or cluster.processes[0].poll() is not None:
                raise RuntimeError(f"the scheduler did not start; see {folder / 'cluster.log'}")
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written in one go, but give it a moment
        cluster.address = json.loads(scheduler_file.read_text())["address"]
        for i in range(workers):
            cluster.processes.append(
                subprocess.Popen(
                    [
                        str(DASK), "worker", cluster.address, "--host", "127.0.0.1", "--nthreads", "1",
                        "--nworkers", "1", "--no-dashboard", "--name", f"w{i}",
                        "--local-directory", str(folder / f"w{i}"), *tls_args,
                    ],
                    **common,  # type: ignore[call-overload]
                )
            )  # fmt: skip
        with cluster.client() as c:
            c.wait_for_workers(workers, timeout=START_TIMEOUT_S)
    except BaseException:
        cluster.stop()
        raise
    return cluster
