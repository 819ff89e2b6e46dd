"""``reclaim scan``, ``matches``, ``review`` and ``explain``: find material, list the matches, decide them,
and say how a matched item was made."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from reclaim.cli.common import (
    JsonOption,
    emit,
    err_console,
    open_session,
    open_workspace,
    out_console,
    say,
    warn,
)
from reclaim.errors import UserError


@contextmanager
def progress_bar(*, show: bool) -> Iterator[Callable[[int, int, str], None]]:
    """A scan progress bar on stderr (when ``show``); yields the ``progress(done, total, label)`` callback."""
    with Progress(
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}", style="dim"),
        console=err_console,
        transient=True,
        disable=not show,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label[-40:])

        yield progress


def scan(
    paths: Annotated[list[Path], typer.Argument(help="Folders, files or Telegram Desktop exports.")],
    hash_only: Annotated[
        bool, typer.Option("--hash-only", help="Keep hashes, faces and sightings, never the media bytes.")
    ] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes (default: one per core).")
    ] = None,
    forensics: Annotated[
        str,
        typer.Option(
            "--forensics",
            help="Which items get the forensic signals: 'matched' (default: metadata and C2PA for every "
            "item, watermark and pixel indicators for items that match a person), 'all', or 'none'.",
        ),
    ] = "matched",
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every skipped file (not media, export files).")
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Analyse on a Dask cluster: tls://HOST:8786 (TLS from Dask's configuration), or "
            "tcp://127.0.0.1:8786 on this machine. The database and keys stay here (docs/cluster.md).",
        ),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Allow tcp:// to another machine (media sent unencrypted)."),
    ] = False,
    thorough: Annotated[
        bool,
        typer.Option(
            "--thorough",
            help="Search every picture for small and turned faces now (≈ 10x slower on pictures without "
            "a face). Default: only pictures with a match; 'reclaim finish-faces' does the rest later.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Scan material for enrolled faces and reposts of known images.

    A Telegram Desktop export (a folder with result.json, single chat or whole account) is detected
    automatically; every other folder is walked recursively. Web archives (.warc, .warc.gz, .wacz: wget,
    warcio, ArchiveWeb.page, Browsertrix) are read record by record: each image response is an item with
    its URL, page and capture time. Images (JPEG, PNG, WebP, GIF, BMP, TIFF,
    HEIC/HEIF, AVIF) and videos are recognised by content; every other file is counted as skipped.
    Rescanning adds nothing twice, and an interrupted scan resumes where it stopped when run again.
    With --scheduler the analysis runs on a Dask cluster's workers; results are the same.
    Faces: the plain detection pass runs on every picture; the slow passes for small and turned faces
    run at once on pictures with a match, and later ('reclaim finish-faces') or now (--thorough) on the
    rest.

    Example:
        reclaim scan ~/Downloads/Telegram\\ Desktop/ChatExport_2026-11-20 ./screenshots --json
    """
    from reclaim.forensics.passes import FORENSICS_MODES
    from reclaim.scan.executors import ClusterSettings
    from reclaim.scan.service import scan_paths
    from reclaim.takedown.reupload import ReuploadCheck

    if forensics not in FORENSICS_MODES:
        raise UserError(f"--forensics must be one of {', '.join(FORENSICS_MODES)}")
    with open_workspace() as ws, progress_bar(show=err_console.is_terminal and not as_json) as progress:
        report = scan_paths(
            ws, paths, hash_only=hash_only, forensics=forensics, workers=workers, progress=progress,
            checks=[ReuploadCheck()], cluster=ClusterSettings(scheduler, insecure) if scheduler else None,
            face_search="thorough" if thorough else "quick",
        )  # fmt: skip
    result = report.to_dict(verbose=verbose)
    result["errors"] = [{"path": e.path, "error": e.error} for e in report.errors]
    emit(result, as_json, _render_scan)


def _render_scan(r: dict[str, Any]) -> None:
    say(
        f"{r['items']} item(s) ({r['new_items']} new), {r['sightings']} sighting(s), "
        f"{r['face_matches']} face match(es), {r['hash_matches']} hash match(es), "
        f"{len(r['errors'])} error(s), {r['skipped']['not_media']} file(s) skipped as not media."
    )
    for e in r["errors"]:
        warn(f"  skipped {e['path']}: {e['error']}")
    if r.get("faces_deferred"):
        say(
            f"{r['faces_deferred']} picture(s) without a match had the quick face search only and no face "
            "was found: 'reclaim finish-faces' searches them for small and turned faces."
        )
    for name, v in r.get("video_signals", {}).items():
        say(f"{name}: {v['hashed']} new video(s) hashed, {v['unhashed']} not")
        for problem, n in v["problems"].items():
            warn(f"  {name} missing on {n} video(s): {problem}")
    for s in r.get("skipped_paths", []):
        warn(f"  {s['reason'].replace('_', ' ')}: {s['path']}")


def finish_faces(
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes (default: one per core).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Search the pictures a scan gave only the quick face search for small and turned faces.

    'reclaim scan' runs the slow detection passes (full resolution, turns, upsampling) at once only on
    pictures with a match; this runs them on every other picture where no face was found, and matches
    the faces it finds against the enrolled persons. Pictures whose media are not kept (a minor's)
    cannot be searched again and are counted; --hash-only scans search thoroughly at once.

    Example:
        reclaim finish-faces --json
    """
    from reclaim.scan.service import finish_faces as run

    with open_workspace() as ws, progress_bar(show=err_console.is_terminal and not as_json) as progress:
        report = run(ws, workers=workers, progress=lambda done, total: progress(done, total, ""))
    emit(
        asdict(report) | {"errors": [{"item": s, "error": e} for s, e in report.errors]},
        as_json,
        _render_finish,
    )


def _render_finish(r: dict[str, Any]) -> None:
    say(
        f"{r['searched']} picture(s) searched, {r['faces_found']} face(s) found, {r['new_matches']} new "
        f"match(es); {r['unavailable']} without stored media; {len(r['errors'])} error(s)."
    )
    for e in r["errors"]:
        warn(f"  item {e['item'][:12]}: {e['error']}")


def _when(s: dict[str, Any]) -> str:
    if s["posted_at"]:
        return str(s["posted_at"])[:16].replace("T", " ") + "Z"
    return f"{s['date_local']} (local)" if s["date_local"] else "time unknown"


def print_matches_table(rows: list[dict[str, Any]]) -> None:
    """Matches grouped by person: one row per match, one line per sighting."""
    by_person: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_person.setdefault(f"{r['person_name']} ({r['person_id']})", []).append(r)
    if not rows:
        out_console.print("No matches.")
    for person, items in by_person.items():
        table = Table(
            "match", "kind", "status", "distance", "cluster", "sightings", title=person, title_justify="left"
        )
        for r in items:
            lines = []
            for s in r["sightings"]:
                if s["source"] == "telegram":
                    lines.append(
                        f"{s['chat_name']} #{s['message_id']}, {s['sender'] or 'deleted account'}, {_when(s)}"
                    )
                else:
                    lines.append(f"file {s['path']}")
            table.add_row(
                r["match_id"],
                f"repost of\n{r['via']['match_id']}" if r.get("via") else r["kind"],
                r["status"],
                f"{r['distance']:.3f}" if r["kind"] == "face" else f"{int(r['distance'])} bits",
                str(r["cluster_id"]),
                "\n".join(lines) or "-",
            )
        out_console.print(table)


def matches(
    person: Annotated[str | None, typer.Option("--person", help="Only this person's matches.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only candidate, confirmed or rejected matches.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List face and hash matches with every sighting of the matched item.

    Example:
        reclaim matches --person 3f9a0c1d2e4b5a69 --json
    """
    from reclaim.matching.queries import list_matches
    from reclaim.persons.service import get_person

    if status is not None and status not in ("candidate", "confirmed", "rejected"):
        raise UserError("--status must be candidate, confirmed or rejected")
    with open_session() as session:
        if person is not None:
            get_person(session, person)  # an unknown person is an error, not an empty list
        rows = list_matches(session, person_id=person, status=status)
    emit(rows, as_json, print_matches_table)


def review(
    match_id: Annotated[str, typer.Argument(help="The match's id (see 'reclaim matches').")],
    confirm: Annotated[bool, typer.Option("--confirm", help="The match shows the person.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="The match does not show the person.")] = False,
    note: Annotated[str | None, typer.Option("--note", help="Why: kept in the event log.")] = None,
    cluster: Annotated[
        bool,
        typer.Option("--cluster", help="Also decide the person's candidate matches on the near-duplicates."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Confirm or reject a match. Each change is logged with the previous status and the note.

    With --cluster the person's still-undecided matches on the reposts, resizes and flips of the same
    image take the same decision; matches already decided the other way are left alone.

    Example:
        reclaim review 9c2e41d07a3b5f18 --confirm --cluster --note "her photo, cropped"
    """
    from reclaim.review.service import ReviewDecision, review_match

    if confirm == reject:
        raise UserError("give exactly one of --confirm or --reject")
    decision: ReviewDecision = "confirmed" if confirm else "rejected"
    with open_session() as session:
        r = review_match(session, match_id=match_id, decision=decision, note=note, cluster=cluster)
    result = {
        "decided": [
            {"match_id": d.match_id, "status": d.status, "previous_status": d.previous_status}
            for d in r.decided
        ],
        "unchanged": r.unchanged,
        "kept": [{"match_id": d.match_id, "status": d.status} for d in r.kept],
        "cluster_items_without_match": r.cluster_items_without_match,
        "reposts_pending": r.reposts_pending,
    }
    emit(result, as_json, lambda res: _render_review(res, decision))


def _render_review(r: dict[str, Any], decision: str) -> None:
    for d in r["decided"]:
        say(f"{d['match_id']}: {d['previous_status']} -> {d['status']}")
    for m in r["unchanged"]:
        say(f"{m}: already {decision}, unchanged")
    for k in r["kept"]:
        say(f"{k['match_id']}: kept as {k['status']} (name it to change it)")
    for sha in r["cluster_items_without_match"]:
        say(f"item {sha} (same cluster): no match for this person, not decided")
    for m in r.get("reposts_pending", []):
        say(f"{m}: a repost carried from the rejected match, still a candidate (review it)")


def explain(
    item: Annotated[
        str, typer.Argument(help="A match id, an item's SHA-256 (8+ hex digits suffice) or item number.")
    ],
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Recompute the forensic signals from the stored media first (e.g. for items scanned "
            "before this version, or after setting a C2PA trust list).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Explain what reclaim can show about how an item was made, signal by signal.

    Each signal says what it saw, how strong that is and what it cannot know: what the file declares
    (metadata, C2PA), invisible watermarks, a face copied from a kept reference photo, and pixel
    indicators of editing. There is no blended "fake probability", and nothing here shows that an
    image is authentic.

    Example:
        reclaim explain 9c2e41d07a3b5f18 --json
    """
    from reclaim.forensics.service import explain_item, refresh_item, resolve_item

    with open_workspace() as ws, ws.session() as session:
        found = resolve_item(session, item)
        if refresh:
            with ws.exclusive("recomputing the forensic signals"):
                refresh_item(session, ws.vault, ws.key, found, c2pa_trust_pem=ws.c2pa_trust_pem())
                session.commit()
        result = explain_item(session, found)
    emit(result, as_json, _render_explanation)


def _render_explanation(result: dict[str, Any]) -> None:
    it = result["item"]
    size = f"{it['width']}×{it['height']}" if it["width"] else "size unknown"
    say(f"Item {it['id']} · {it['sha256']} · {it['mime']} {size} · seen {it['sightings']} time(s)")
    if not result["computed"]:
        say(
            "No forensic signals were computed for this item (scanned with --forensics none or by an older "
            "version). Run with --refresh to compute them from the stored media."
        )
        return
    if result["not_computed"]:
        say(
            f"Not computed: {', '.join(result['not_computed'])} (by default they run only on items that "
            "match a person; 'explain --refresh' computes them now, 'scan --forensics all' for every item)."
        )
    say("\nWhat the evidence supports:")
    for st in result["statements"]:
        say(f"  • {st['text']}")
    say("\nSignal by signal:")
    for f in result["findings"]:
        who = f" [{f['person_name']}]" if f.get("person_name") else ""
        say(f"  {f['signal']}{who}: {f['verdict']} (strength: {f['strength']})")
        say(f"    {f['summary']}")
        for c in f["caveats"]:
            say(f"    - {c}")
    say(f"\n{result['note']}")
