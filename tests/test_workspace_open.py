"""Opening a workspace (every command's start-up, issue 13 outcome 1): a schema already at the newest
revision costs one query and alembic is not imported; a new or older database is still migrated; and the
command line a scan loads leaves the heavy modules it does not use unimported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from reclaim.store.db import alembic_config, head_revision, is_current, make_engine, upgrade
from reclaim.workspace import Workspace

NOT_FOR_A_SCAN = (
    "alembic",
    "fastapi",
    "reportlab",
    "networkx",
    "scipy",
    "skimage",
    "onnx",
    "av",
    "pillow_heif",
)
"""Modules the writer of a scan of pictures does not need (cv2, ≈ 0.02 s, is the robust engine's)."""


def test_the_head_revision_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_a_new_database_is_migrated_and_then_current(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        assert not is_current(engine)
        upgrade(engine)
        assert is_current(engine)
        assert "items" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_opening_a_current_workspace_imports_no_alembic(tmp_path: Path) -> None:
    Workspace.create(tmp_path / "ws", "pw").close()
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        import reclaim.cli
        import reclaim.scan.service
        from reclaim.workspace import Workspace
        Workspace.open(Path({str(tmp_path / "ws")!r}), "pw").close()
        print(",".join(m for m in {NOT_FOR_A_SCAN!r} if m in sys.modules))
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
