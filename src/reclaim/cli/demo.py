"""``reclaim demo``: the whole loop on the sample data of :mod:`reclaim.demo`: build a Telegram export,
enrol the person, scan, list the matches and say how each matched item was made.

The loop composes persons, scan, matching and forensics, which only the layers above them may do; so it
lives here, and ``reclaim.demo`` stays sample data that any layer (and the tests) can use.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from reclaim.cli.common import JsonOption, emit, out_console, state
from reclaim.cli.scan import print_matches_table
from reclaim.text import shown

if TYPE_CHECKING:
    from reclaim.demo import SampleExport
    from reclaim.workspace import Workspace

DEMO_PASSPHRASE = "demo-passphrase"  # the demo's throwaway workspace only

Say = Callable[..., None]
"""Where the demo's steps go: ``Console.print`` (rich markup), or nowhere with ``--json``."""


def demo(
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Write the sample export here and keep it.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the whole loop on generated sample data: build a Telegram export, enrol, scan, list matches.

    Uses a temporary workspace unless --workspace is given. The sample images come from scikit-image's
    bundled pictures; the "deepfakes" are a face pasted into landscapes.

    Example:
        reclaim demo
    """
    from reclaim.demo import build_sample_export

    started = time.monotonic()
    say: Say = _quiet if as_json else out_console.print
    with tempfile.TemporaryDirectory(prefix="reclaim-demo-") as tmp:
        export = build_sample_export((keep if keep is not None else Path(tmp)) / "ChatExport_demo")
        kept = "" if keep is not None else " (a temporary folder, removed at the end; --keep DIR keeps it)"
        with demo_workspace(
            state.workspace if state.workspace is not None else Path(tmp) / "workspace"
        ) as ws:
            say(_step("1. Sample Telegram export", f" written to {export.root}{kept}"))
            result = run_demo(ws, export, say=say)
    result["seconds"] = round(time.monotonic() - started, 2)
    emit(result, as_json, _render_demo)


def _step(title: str, rest: str) -> Text:
    """A demo step's line: its title in bold, the rest as plain data (paths and names are shown, never
    read as markup)."""
    return Text.assemble((title, "bold"), shown(rest))


def _quiet(*_objects: Any, **_options: Any) -> None:
    """Say nothing (``--json``: only the result is printed)."""


@contextmanager
def demo_workspace(root: Path) -> Iterator[Workspace]:
    """The workspace at ``root``, opened, or created when there is none yet, with ``$RECLAIM_PASSPHRASE``
    or the demo's throwaway passphrase."""
    from reclaim.workspace import WORKSPACE_FILE, Workspace

    passphrase = os.environ.get("RECLAIM_PASSPHRASE", DEMO_PASSPHRASE)
    exists = (root / WORKSPACE_FILE).exists()
    ws = Workspace.open(root, passphrase) if exists else Workspace.create(root, passphrase)
    try:
        yield ws
    finally:
        ws.close()


def run_demo(ws: Workspace, export: SampleExport, *, say: Say) -> dict[str, Any]:
    """Enrol the sample person (photos kept, for the source-photo signal), scan the export, and collect
    the matches and what the evidence supports about each matched item."""
    from reclaim.forensics.service import explain_item, resolve_item
    from reclaim.matching.queries import list_matches
    from reclaim.persons.service import add_person
    from reclaim.scan.service import scan_paths
    from reclaim.takedown.reupload import ReuploadCheck

    with ws.session() as session:
        person = add_person(
            session,
            ws.key,
            name="Demo Person",
            photos=export.enrol_photos,
            known_images=[export.known_image],
            consent="demo: public-domain sample portrait, no real victim",
            recorded_by="reclaim demo",
            vault=ws.vault,
            keep_photos=True,
        )
    say(
        _step(
            "2. Enrolled",
            f" {person.name} ({person.person_id}): {person.templates} templates, "
            f"{person.known_images} known image; {person.kept_photos} photos kept encrypted "
            "(--keep-photos) to show where a face was copied from",
        )
    )
    report = scan_paths(ws, [export.root], checks=[ReuploadCheck()])
    say(
        _step(
            "3. Scanned",
            f": {report.items} items ({report.new_items} new), {report.sightings} "
            f"sightings, {report.face_matches} face matches, {report.hash_matches} hash matches",
        )
    )
    for e in report.errors:
        where = e.path.removeprefix(f"{export.root}/")
        say(Text.assemble("   ", ("skipped", "yellow"), f" {shown(f'{where}: {e.error}')}"), highlight=False)
    with ws.session() as session:
        rows = list_matches(session, person_id=person.person_id)
        explained: dict[str, list[str]] = {}
        for row in rows:
            item = resolve_item(session, row["match_id"])
            if item.sha256 not in explained:
                explained[item.sha256] = [st["text"] for st in explain_item(session, item)["statements"]]
    return {"person_id": person.person_id, "scan": report.to_dict(), "matches": rows, "forensics": explained}


def _render_demo(result: dict[str, Any]) -> None:
    out_console.print(_step("4. Matches", " (candidates await review):"))
    print_matches_table(result["matches"])
    out_console.print(
        _step("5. How each matched item was made", " ('reclaim explain ITEM' gives the details):")
    )
    for sha, texts in result["forensics"].items():
        out_console.print(f"   {sha[:12]}: " + "; ".join(texts), highlight=False)
    out_console.print(f"Done in {result['seconds']:.1f} s.")
