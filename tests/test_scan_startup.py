"""Scan start-up (issue 13, outcome 1): ``reclaim scan`` starts its fork server before its own imports,
the pool starts its workers as the scan opens, and the face ResNet is converted to ONNX once."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reclaim.cli.early import wants_pool
from reclaim.demo import paste_face
from reclaim.scan.analyze import warm_up
from reclaim.signals.dlib_onnx import converted_model


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["scan", "photos"], True),
        (["--workspace", "ws", "scan", "a", "b", "--json"], True),
        (["scan", "photos", "--workers", "2"], True),
        (["scan", "photos", "--workers", "1"], False),
        (["scan", "photos", "--workers=1"], False),
        (["scan", "--help"], False),
        (["scan", "photos", "--scheduler", "tcp://127.0.0.1:8786"], False),
        (["matches"], False),
        (["finish-faces", "--json"], True),
        (["finish-faces", "--workers", "1"], False),
        ([], False),
    ],
)
def test_only_a_local_pool_scan_starts_the_fork_server_early(argv: list[str], expected: bool) -> None:
    assert wants_pool(argv) is expected


def test_the_onnx_model_is_converted_once_per_process() -> None:
    first = converted_model()
    assert first is converted_model()
    assert len(first) > 1_000_000


def test_the_conversion_is_kept_on_disk_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second process reads the conversion from the cache folder (no ``onnx`` import, no conversion);
    a damaged copy is converted again, and a folder that cannot be written costs only the conversion."""
    from reclaim.signals import dlib_onnx

    monkeypatch.setenv("RECLAIM_CACHE_DIR", str(tmp_path / "cache"))
    path = dlib_onnx.model_path()
    fresh = dlib_onnx._converted.__wrapped__(path)
    (cached,) = (tmp_path / "cache").glob("*.onnx")
    assert cached.read_bytes() == fresh
    calls: list[Path] = []
    real = dlib_onnx._onnx_model
    monkeypatch.setattr(dlib_onnx, "_onnx_model", lambda p: calls.append(p) or real(p))
    assert dlib_onnx._converted.__wrapped__(path) == fresh and calls == []  # read from the cache
    damaged = bytearray(fresh)
    damaged[len(damaged) // 2] ^= 0xFF
    cached.write_bytes(bytes(damaged))
    assert dlib_onnx._converted.__wrapped__(path) == fresh and calls == [path]  # converted again
    assert cached.read_bytes() == fresh
    (tmp_path / "blocked").write_text("a file where the folder would be")
    monkeypatch.setenv("RECLAIM_CACHE_DIR", str(tmp_path / "blocked"))
    assert dlib_onnx._converted.__wrapped__(path) == fresh


def test_warm_up_loads_the_model_and_never_raises() -> None:
    warm_up(False)
    warm_up(True)


def test_cli_scan_with_the_early_fork_server(tmp_path: Path) -> None:
    """The real command as a user runs it: two workers, a face picture and a faceless one, no error and
    no traceback from a worker re-importing the command line."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(7)
    scene = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    paste_face(scene, width=160, at=(0.5, 0.5)).save(folder / "face.jpg", quality=90)
    Image.fromarray(scene).save(folder / "scene.jpg", quality=90)
    reclaim = Path(sys.executable).with_name("reclaim")
    if not reclaim.exists():
        pytest.skip("the reclaim console script is not installed next to this interpreter")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(
        os.environ,
        RECLAIM_WORKSPACE=str(tmp_path / "ws"),
        RECLAIM_PASSPHRASE="test-startup",
        PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
    )
    env.pop("RECLAIM_DATABASE_URL", None)
    subprocess.run([str(reclaim), "init"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [str(reclaim), "scan", str(folder), "--workers", "2", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert '"new_items": 2' in done.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_workers_fix_the_mmap_threshold() -> None:
    """glibc accepts both settings (mallopt returns 1); the memory figures are bench/scale.py's."""
    from reclaim.scan.executors import tune_malloc

    assert tune_malloc() is True


WORKER_MODULES = """\
import hashlib
import json
import multiprocessing
import sys

from reclaim.cli import main  # what the reclaim console script runs

if __name__ == "__main__":
    with multiprocessing.get_context(sys.argv[1]).Pool(1) as pool:
        print(json.dumps(pool.apply(eval, ("sorted(__import__('sys').modules)",))))
"""


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_pool_workers_do_not_rerun_the_console_script(tmp_path: Path, method: str) -> None:
    """A worker started from the ``reclaim`` script imports what its jobs need, not the command line
    (multiprocessing re-runs a ``__main__`` script in every process it starts: ≈ 0.3 CPU s a worker)."""
    script = tmp_path / "reclaim"
    script.write_text(WORKER_MODULES, encoding="utf-8")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, str(script), method], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stdout))
    assert not modules & {"reclaim.cli", "typer", "rich", "sqlalchemy"}, sorted(modules)


def test_the_face_detector_is_kept_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dlib's built-in detector costs ≈ 0.3 s to build; the copy read back from the cache folder finds the
    same boxes with the same scores; a damaged copy is built again; an unwritable folder only costs time."""
    import dlib

    from reclaim.signals.dlib_onnx import frontal_face_detector

    monkeypatch.setenv("RECLAIM_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(3)
    scene = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    picture = np.asarray(paste_face(scene, width=180, at=(0.4, 0.5)).convert("RGB"))
    built = frontal_face_detector(dlib)
    (cached,) = (tmp_path / "cache").glob("*.svm")
    builds: list[int] = []
    real = dlib.get_frontal_face_detector
    monkeypatch.setattr(dlib, "get_frontal_face_detector", lambda: builds.append(1) or real())
    read = frontal_face_detector(dlib)
    assert builds == []  # read from the cache

    def boxes(detector: object) -> list[tuple[tuple[int, int, int, int], float]]:
        rects, scores, _ = detector.run(picture, 1, -0.5)  # type: ignore[attr-defined]
        return [((r.left(), r.top(), r.right(), r.bottom()), s) for r, s in zip(rects, scores, strict=True)]

    assert boxes(read) == boxes(built) and len(boxes(built)) >= 1
    damaged = bytearray(cached.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    cached.write_bytes(bytes(damaged))
    assert boxes(frontal_face_detector(dlib)) == boxes(built) and builds == [1]  # built again
    assert hashlib.sha256(cached.read_bytes()).digest() != hashlib.sha256(damaged).digest()
    (tmp_path / "blocked").write_text("a file where the folder would be")
    monkeypatch.setenv("RECLAIM_CACHE_DIR", str(tmp_path / "blocked"))
    assert boxes(frontal_face_detector(dlib)) == boxes(built)


def test_workers_read_the_conversion_from_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fork server keeps no copy of the graph: the session reads the checked file; without a writable
    cache folder it is built from the bytes, with the same descriptors."""
    from reclaim.signals import dlib_onnx

    monkeypatch.setenv("RECLAIM_CACHE_DIR", str(tmp_path / "cache"))
    path = dlib_onnx.model_path()
    file = dlib_onnx._converted_file.__wrapped__(path)
    assert file is not None and file.read_bytes() == converted_model()
    chips = np.random.default_rng(5).integers(0, 255, size=(2, 150, 150, 3), dtype=np.uint8)
    monkeypatch.setattr(dlib_onnx, "converted_model_file", lambda: file)
    from_file = dlib_onnx.OnnxResNetEncoder().encode_batch(chips)
    (tmp_path / "blocked").write_text("a file where the folder would be")
    monkeypatch.setenv("RECLAIM_CACHE_DIR", str(tmp_path / "blocked"))
    assert dlib_onnx._converted_file.__wrapped__(path) is None
    monkeypatch.setattr(dlib_onnx, "converted_model_file", lambda: None)
    assert np.array_equal(dlib_onnx.OnnxResNetEncoder().encode_batch(chips), from_file)


HELP_MODULES = """\
import json
import sys

sys.argv = ["reclaim", *sys.argv[1:]]
from reclaim.cli import main

try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""
NOT_FOR_HELP = ("sqlalchemy", "alembic", "numpy", "cryptography", "PIL", "cv2", "networkx", "fastapi", "dlib")


@pytest.mark.parametrize("args", [["--help"], ["scan", "--help"], ["evidence", "export", "--help"]])
def test_help_imports_no_library_stack(args: list[str]) -> None:
    """Help (and a mistyped option) answers without the database, image or server stack (0.7 -> 0.2 s)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-c", HELP_MODULES, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout.splitlines()[-1])
    assert "Usage: reclaim" in done.stdout
    assert not {m.split(".")[0] for m in modules} & set(NOT_FOR_HELP)
