"""The CLI contract: commands, --help examples, JSON keys, exit codes. Runs the real CLI in-process
against real SQLite workspaces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from reclaim.cli import app
from reclaim.demo import SampleExport, build_sample_export, face_crop

runner = CliRunner()

COMMANDS = [[], ["init"], ["person"], ["person", "add"], ["person", "list"], ["person", "forget"],
            ["person", "reembed"], ["scan"],
            ["matches"], ["review"], ["custody"], ["custody", "verify"], ["timestamp"], ["capture"],
            ["evidence"], ["evidence", "export"], ["evidence", "verify"],
            ["explain"], ["trust"], ["trust", "set"], ["trust", "show"], ["trust", "clear"],
            ["demo"], ["serve"], ["user"], ["user", "add"], ["user", "token"],
            ["case"], ["case", "assign"],
            ["takedown"], ["takedown", "platforms"], ["takedown", "draft"], ["takedown", "list"],
            ["takedown", "status"], ["takedown", "show"], ["takedown", "mark"], ["takedown", "send"],
            ["takedown", "stats"],
            ["hashes"], ["hashes", "export"], ["hashes", "import"], ["hashes", "banks"],
            ["hashes", "check"]]  # fmt: skip


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleExport:
    return build_sample_export(tmp_path_factory.mktemp("sample") / "ChatExport")


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "reclaim")
def test_every_command_has_help_with_example(cmd: list[str]) -> None:
    code, out, _ = invoke(*cmd, "--help")
    assert code == 0
    groups = ([], ["person"], ["custody"], ["evidence"], ["trust"], ["user"], ["case"], ["takedown"],
              ["hashes"])  # fmt: skip
    assert "Example" in out or cmd in groups, out
    assert "Usage" in out


def test_full_loop_json_contract(cli_env: Path, sample: SampleExport) -> None:
    code, out, err = invoke("init", "--json")
    assert code == 0, err
    assert json.loads(out)["workspace"] == str(cli_env)

    photos = [a for p in sample.enrol_photos for a in ("--photo", str(p))]
    code, out, err = invoke("person", "add", "Client 07", *photos, "--known-image", str(sample.known_image),
                            "--consent", "signed consent form, 2026-11-20", "--json")  # fmt: skip
    assert code == 0, err
    person = json.loads(out)
    assert {"person_id", "name", "templates", "known_images"} <= person.keys()
    assert person["templates"] == 2 and person["known_images"] == 1 and person["name"] == "Client 07"

    code, out, _ = invoke("person", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert listed == [
        {"person_id": person["person_id"], "name": "Client 07", "templates": 2, "known_images": 1,
         "minor": False}
    ]  # fmt: skip

    code, out, err = invoke("scan", str(sample.root), "--json", "--workers", "1")
    assert code == 0, err
    report = json.loads(out)
    assert {"items", "new_items", "sightings", "face_matches", "hash_matches", "errors"} <= report.keys()
    # the quick face search leaves the animation's small face (in a picture without a match) for later
    assert report["face_matches"] == sample.expected_face_items - 1
    assert report["faces_deferred"] >= 1
    assert report["hash_matches"] == 1
    assert report["items"] == report["new_items"] == 9
    bad = {e["path"].rsplit("/", 1)[-1]: e["error"] for e in report["errors"]}
    assert "broken.jpg" in bad and "truncated" in bad["broken.jpg"]
    assert any("escapes the export" in e for e in bad.values())

    code, out, err = invoke("finish-faces", "--json", "--workers", "1")
    assert code == 0, err
    finished = json.loads(out)
    assert finished["searched"] == report["faces_deferred"] and finished["new_matches"] == 1

    code, out, _ = invoke("matches", "--json")
    assert code == 0
    rows = json.loads(out)
    # the face matches and one hash match (a deferred near-duplicate's repost match made while it was
    # deferred gave way to the face match the scan's thorough search then found)
    assert len(rows) == sample.expected_face_items + 1
    for row in rows:
        assert {"match_id", "person_id", "person_name", "kind", "status", "distance", "item_sha256",
                "cluster_id", "sightings"} <= row.keys()  # fmt: skip
        assert row["kind"] in ("face", "hash") and row["status"] == "candidate"
        for s in row["sightings"]:
            assert {"source", "chat_id", "chat_name", "message_id", "sender", "sender_id", "posted_at",
                    "path"} <= s.keys()  # fmt: skip
            assert s["source"] == "telegram" and s["posted_at"].endswith("Z")
    first = next(r for r in rows if any(s["message_id"] == 2 for s in r["sightings"]))
    assert {(s["chat_name"], s["message_id"]) for s in first["sightings"]} == {("Room A", 2), ("Room B", 14)}
    reposts = [r for r in rows if r["cluster_id"] == first["cluster_id"] and r["kind"] == "face"]
    assert len(reposts) == 3, "the original, its resized q40 repost and its mirror form one cluster"

    code, out, _ = invoke("matches", "--person", person["person_id"])
    assert code == 0 and "Room A" in out

    # templates are current (made by this version): nothing to re-embed, and no kept photos
    code, out, _ = invoke("person", "reembed", person["person_id"], "--json")
    assert code == 0
    assert json.loads(out) == {"person_id": person["person_id"], "reembedded": 0, "left_on_older_model": 0}

    code, out, _ = invoke("person", "forget", person["person_id"], "--json")
    assert code == 0
    erased = json.loads(out)["erased"]
    assert erased == {"templates": 2, "known_images": 1, "kept_photos": 0, "matches": len(rows),
                      "findings": 0, "erased_log_values": 0}  # fmt: skip
    assert json.loads(invoke("matches", "--json")[1]) == []
    assert json.loads(invoke("person", "list", "--json")[1]) == []


def test_user_errors_exit_2_with_one_line(cli_env: Path, tmp_path: Path) -> None:
    assert invoke("init")[0] == 0
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 300), "gray").save(blank)
    two = tmp_path / "two.jpg"
    face = face_crop()
    canvas = Image.new("RGB", (face.width * 2 + 40, face.height + 20), "white")
    canvas.paste(face, (10, 10))
    canvas.paste(face, (face.width + 30, 10))
    canvas.save(two)
    cases = [
        (["person", "add", "X", "--photo", str(blank), "--consent", "yes"], "no face found"),
        (["person", "add", "X", "--photo", str(two), "--consent", "yes"], "2 faces found"),
        (["person", "add", "X", "--photo", str(tmp_path / "nope.jpg"), "--consent", "yes"], "no such file"),
        (["person", "add", "X", "--photo", str(blank), "--consent", "  "], "consent statement is required"),
        (["person", "forget", "doesnotexist"], "no person"),
        (["person", "reembed", "doesnotexist"], "no person"),
        (["matches", "--person", "doesnotexist"], "no person"),
        (["matches", "--status", "maybe"], "--status"),
        (["scan", str(tmp_path / "typo")], "no such file"),
        (["init"], "already exists"),
    ]
    for args, needle in cases:
        code, out, err = invoke(*args)
        assert code == 2, (args, code, out, err)
        assert needle in err, (args, err)
        assert err.strip().count("\n") == 0, f"one line expected: {err!r}"
        assert "Traceback" not in err
    # nothing was enrolled by the failed attempts
    assert json.loads(invoke("person", "list", "--json")[1]) == []


def test_wrong_passphrase_and_missing_workspace(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = invoke("person", "list")
    assert code == 2 and "reclaim init" in err
    assert invoke("init")[0] == 0
    monkeypatch.setenv("RECLAIM_PASSPHRASE", "not the passphrase")
    code, _, err = invoke("person", "list")
    assert code == 2 and "wrong passphrase" in err


def test_workspace_option_beats_environment(cli_env: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert invoke("--workspace", str(other), "init")[0] == 0
    assert (other / "workspace.json").exists()
    assert not cli_env.exists()


def test_demo_runs_the_whole_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECLAIM_PASSPHRASE", raising=False)
    code, out, err = invoke(
        "--workspace", str(tmp_path / "ws"), "demo", "--keep", str(tmp_path / "kept"), "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    kinds = sorted(m["kind"] for m in result["matches"])
    assert kinds == ["face"] * 6 + ["hash"]
    assert result["scan"]["items"] == 9 and len(result["scan"]["errors"]) == 2
    assert (tmp_path / "kept" / "ChatExport_demo" / "result.json").exists()
    assert (tmp_path / "ws" / "workspace.json").exists()


def test_database_url_is_used_by_init_and_never_silently_ignored(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12, D19: 'init' reads RECLAIM_DATABASE_URL; a workspace opened with a different one is an error
    naming both (without the password), not a quiet fall-back to SQLite."""
    r = runner.invoke(app, ["init"])
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("RECLAIM_DATABASE_URL", "postgresql+psycopg://reclaim:s3cret@db.example/reclaim")
    r = runner.invoke(app, ["matches", "--json"])
    assert r.exit_code == 2
    assert "RECLAIM_DATABASE_URL" in r.output and "SQLite" in r.output and "s3cret" not in r.output
    monkeypatch.delenv("RECLAIM_DATABASE_URL")
    assert runner.invoke(app, ["matches", "--json"]).exit_code == 0


def test_init_creates_the_workspace_in_the_database_of_database_url(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    from tests.server.conftest import _pg_database

    with contextlib.contextmanager(_pg_database)() as url:
        monkeypatch.setenv("RECLAIM_DATABASE_URL", url)
        r = runner.invoke(app, ["init"])
        assert r.exit_code == 0, r.output
        assert json.loads((cli_env / "workspace.json").read_text())["database_url"] == url
        r = runner.invoke(app, ["matches", "--json"])
        assert r.exit_code == 0 and json.loads(r.output) == []
