"""The command line: a thin layer over the library. Exit codes: 0 ok, 2 user error, 3 dependency failure."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from reclaim.errors import ReclaimError, UserError
from reclaim.workspace import Workspace, default_workspace_dir

app = typer.Typer(
    name="reclaim",
    help="Find, prove, preserve and take down non-consensual deepfake imagery. Local-first: nothing "
    "leaves this machine unless you ask.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
person_app = typer.Typer(help="Enrol consenting persons, list them, erase them.", no_args_is_help=True)
app.add_typer(person_app, name="person")

err_console = Console(stderr=True)
out_console = Console()
T = TypeVar("T")


class _State:
    workspace: Path | None = None


state = _State()


@app.callback()
def _main(
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Workspace directory (default: $RECLAIM_WORKSPACE, else the user data directory).",
            envvar=None,
        ),
    ] = None,
) -> None:
    """reclaim — the global options come before the command.

    Example:
        reclaim --workspace ./case-07 init
    """
    state.workspace = workspace


def _workspace_dir() -> Path:
    return state.workspace if state.workspace is not None else default_workspace_dir()


def _passphrase(*, confirm: bool = False) -> str:
    env = os.environ.get("RECLAIM_PASSPHRASE")
    if env is not None:
        return env
    if not sys.stdin.isatty():
        raise UserError("no passphrase: set RECLAIM_PASSPHRASE or run in a terminal to be asked")
    value: str = typer.prompt("Workspace passphrase", hide_input=True, confirmation_prompt=confirm)
    return value


def _fail(exc: ReclaimError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=exc.exit_code)


@contextmanager
def _open() -> Iterator[Workspace]:
    ws = Workspace.open(_workspace_dir(), _passphrase())
    try:
        yield ws
    finally:
        ws.close()


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ReclaimError as exc:
        raise _fail(exc) from None


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


@app.command()
def init(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create a new workspace: an SQLite database and an encrypted vault.

    The passphrase (RECLAIM_PASSPHRASE, or asked twice) wraps the key that encrypts media and face
    templates. It cannot be recovered: keep it safe.

    Example:
        RECLAIM_PASSPHRASE='correct horse' reclaim --workspace ./case-07 init
    """

    def go() -> dict[str, str]:
        ws = Workspace.create(_workspace_dir(), _passphrase(confirm=True))
        ws.close()
        return {"workspace": str(ws.root)}

    result = _run(go)
    if as_json:
        _print_json(result)
    else:
        out_console.print(f"Workspace created at {result['workspace']}", markup=False)


@person_app.command("add")
def person_add(
    name: Annotated[str, typer.Argument(help="Name or pseudonym, e.g. 'Client 07'.")],
    photo: Annotated[
        list[Path], typer.Option("--photo", help="A photo showing only this person's face (repeatable).")
    ],
    consent: Annotated[
        str, typer.Option("--consent", help="The consent statement: who consented, how and when.")
    ],
    known_image: Annotated[
        list[Path] | None,
        typer.Option("--known-image", help="An image the person already holds; kept as hashes only."),
    ] = None,
    minor: Annotated[
        bool, typer.Option("--minor", help="The person is under 18: their matched media are never stored.")
    ] = False,
    keep_photos: Annotated[
        bool,
        typer.Option(
            "--keep-photos",
            help="The person agrees that the photos and known images are kept, encrypted, to show that a "
            "face in found material was copied from one of them (source-photo match). Deleted on forget.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Enrol a consenting person from one or more photos of their face.

    Each photo must show exactly one clear face. Without --keep-photos the photos are not stored, only
    encrypted face templates; with it they are kept encrypted for source-photo matching. Already
    scanned material is searched for the new person at once.

    Example:
        reclaim person add "Client 07" --photo a.jpg --photo b.jpg --consent "signed consent form, 2026-11-20"
    """
    from reclaim.persons.service import add_person

    def go() -> dict[str, Any]:
        with (
            _open() as ws,
            ws.exclusive("the enrolment"),
            ws.session() as session,
            err_console.status("Enrolling: reading the photos, then searching the stored items…"),
        ):
            s = add_person(
                session,
                ws.key,
                name=name,
                photos=photo,
                consent=consent,
                known_images=known_image or [],
                minor=minor,
                vault=ws.vault,
                keep_photos=keep_photos,
            )
            return {
                "person_id": s.person_id,
                "name": s.name,
                "templates": s.templates,
                "known_images": s.known_images,
                "kept_photos": s.kept_photos,
                "minor": s.minor,
                "matches_created": s.matches_created,
            }

    result = _run(go)
    if as_json:
        _print_json(result)
    else:
        out_console.print(
            f"Enrolled {result['name']} as {result['person_id']}: {result['templates']} face template(s), "
            f"{result['known_images']} known image(s), {result['kept_photos']} photo(s) kept encrypted; "
            f"{result['matches_created']} match(es) in stored items.",
            markup=False,
        )


@person_app.command("list")
def person_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List enrolled persons.

    Example:
        reclaim person list --json
    """
    from reclaim.persons.service import list_persons

    def go() -> list[dict[str, Any]]:
        with _open() as ws, ws.session() as session:
            return [
                {
                    "person_id": p.person_id,
                    "name": p.name,
                    "templates": p.templates,
                    "known_images": p.known_images,
                    "minor": p.minor,
                }
                for p in list_persons(session)
            ]

    rows = _run(go)
    if as_json:
        _print_json(rows)
        return
    table = Table("person_id", "name", "templates", "known images", "minor")
    for r in rows:
        table.add_row(r["person_id"], r["name"], str(r["templates"]), str(r["known_images"]), str(r["minor"]))
    out_console.print(table)


@person_app.command("forget")
def person_forget(
    person_id: Annotated[str, typer.Argument(help="The person's id (see 'reclaim person list').")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Erase a person: face templates, known-image hashes, kept photos, consent, matches and findings.

    Example:
        reclaim person forget 3f9a0c1d2e4b5a69
    """
    from reclaim.persons.service import forget_person

    def go() -> dict[str, int]:
        with _open() as ws, ws.session() as session:
            return forget_person(session, person_id, vault=ws.vault)

    counts = _run(go)
    if as_json:
        _print_json({"person_id": person_id, "erased": counts})
    else:
        out_console.print(
            f"Erased person {person_id}: {counts['templates']} template(s), {counts['known_images']} known "
            f"image(s), {counts['kept_photos']} kept photo(s), {counts['matches']} match(es).",
            markup=False,
        )


@app.command()
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Scan material for enrolled faces and reposts of known images.

    A Telegram Desktop export (a folder with result.json, single chat or whole account) is detected
    automatically; every other folder is walked recursively. Rescanning adds nothing twice, and an
    interrupted scan resumes where it stopped when run again.

    Example:
        reclaim scan ~/Downloads/Telegram\\ Desktop/ChatExport_2026-11-20 ./screenshots --json
    """
    from reclaim.scan.service import scan_paths
    from reclaim.signals.forensic import FORENSICS_MODES

    if forensics not in FORENSICS_MODES:
        raise _fail(UserError(f"--forensics must be one of {', '.join(FORENSICS_MODES)}"))

    def go() -> dict[str, Any]:
        with _open() as ws:
            show = err_console.is_terminal and not as_json
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

                report = scan_paths(
                    ws,
                    paths,
                    hash_only=hash_only,
                    forensics=forensics,  # checked above
                    workers=workers,
                    progress=progress,
                )
            d = report.to_dict()
            d["errors"] = [{"path": e.path, "error": e.error} for e in report.errors]
            return d

    result = _run(go)
    if as_json:
        _print_json(result)
        return
    out_console.print(
        f"{result['items']} item(s) ({result['new_items']} new), {result['sightings']} sighting(s), "
        f"{result['face_matches']} face match(es), {result['hash_matches']} hash match(es), "
        f"{len(result['errors'])} error(s).",
        markup=False,
    )
    for e in result["errors"]:
        typer.echo(f"  skipped {e['path']}: {e['error']}", err=True)


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
                r["kind"],
                r["status"],
                f"{r['distance']:.3f}" if r["kind"] == "face" else f"{int(r['distance'])} bits",
                str(r["cluster_id"]),
                "\n".join(lines) or "-",
            )
        out_console.print(table)


@app.command()
def matches(
    person: Annotated[str | None, typer.Option("--person", help="Only this person's matches.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only candidate, confirmed or rejected matches.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List face and hash matches with every sighting of the matched item.

    Example:
        reclaim matches --person 3f9a0c1d2e4b5a69 --json
    """
    from reclaim.matching.queries import list_matches

    if status is not None and status not in ("candidate", "confirmed", "rejected"):
        raise _fail(UserError("--status must be candidate, confirmed or rejected"))

    def go() -> list[dict[str, Any]]:
        with _open() as ws, ws.session() as session:
            if person is not None:
                from reclaim.persons.service import get_person

                get_person(session, person)
            return list_matches(session, person_id=person, status=status)

    rows = _run(go)
    if as_json:
        _print_json(rows)
    else:
        print_matches_table(rows)


@app.command()
def review(
    match_id: Annotated[str, typer.Argument(help="The match's id (see 'reclaim matches').")],
    confirm: Annotated[bool, typer.Option("--confirm", help="The match shows the person.")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="The match does not show the person.")] = False,
    note: Annotated[str | None, typer.Option("--note", help="Why: kept in the event log.")] = None,
    cluster: Annotated[
        bool,
        typer.Option("--cluster", help="Also decide the person's candidate matches on the near-duplicates."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Confirm or reject a match. Each change is logged with the previous status and the note.

    With --cluster the person's still-undecided matches on the reposts, resizes and flips of the same
    image take the same decision; matches already decided the other way are left alone.

    Example:
        reclaim review 9c2e41d07a3b5f18 --confirm --cluster --note "her photo, cropped"
    """
    from reclaim.review.service import ReviewDecision, review_match

    if confirm == reject:
        raise _fail(UserError("give exactly one of --confirm or --reject"))
    decision: ReviewDecision = "confirmed" if confirm else "rejected"

    def go() -> dict[str, Any]:
        with _open() as ws, ws.session() as session:
            r = review_match(session, match_id=match_id, decision=decision, note=note, cluster=cluster)
            return {
                "decided": [
                    {"match_id": d.match_id, "status": d.status, "previous_status": d.previous_status}
                    for d in r.decided
                ],
                "unchanged": r.unchanged,
                "kept": [{"match_id": d.match_id, "status": d.status} for d in r.kept],
                "cluster_items_without_match": r.cluster_items_without_match,
            }

    result = _run(go)
    if as_json:
        _print_json(result)
        return
    for d in result["decided"]:
        out_console.print(f"{d['match_id']}: {d['previous_status']} -> {d['status']}", markup=False)
    for m in result["unchanged"]:
        out_console.print(f"{m}: already {decision}, unchanged", markup=False)
    for k in result["kept"]:
        out_console.print(f"{k['match_id']}: kept as {k['status']} (name it to change it)", markup=False)
    for sha in result["cluster_items_without_match"]:
        out_console.print(f"item {sha} (same cluster): no match for this person, not decided", markup=False)


@app.command()
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
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

    def go() -> dict[str, Any]:
        with _open() as ws, ws.session() as session:
            found = resolve_item(session, item)
            if refresh:
                with ws.exclusive("recomputing the forensic signals"):
                    refresh_item(session, ws.vault, ws.key, found, c2pa_trust_pem=ws.c2pa_trust_pem())
                    session.commit()
            return explain_item(session, found)

    result = _run(go)
    if as_json:
        _print_json(result)
        return
    it = result["item"]
    size = f"{it['width']}×{it['height']}" if it["width"] else "size unknown"
    out_console.print(
        f"Item {it['id']} · {it['sha256']} · {it['mime']} {size} · seen {it['sightings']} time(s)",
        markup=False,
    )
    if not result["computed"]:
        out_console.print(
            "No forensic signals were computed for this item (scanned with --forensics none or by an older "
            "version). Run with --refresh to compute them from the stored media.",
            markup=False,
        )
        return
    if result["not_computed"]:
        out_console.print(
            f"Not computed: {', '.join(result['not_computed'])} (by default they run only on items that "
            "match a person; 'explain --refresh' computes them now, 'scan --forensics all' for every item).",
            markup=False,
        )
    out_console.print("\nWhat the evidence supports:", markup=False)
    for st in result["statements"]:
        out_console.print(f"  • {st['text']}", markup=False)
    out_console.print("\nSignal by signal:", markup=False)
    for f in result["findings"]:
        who = f" [{f['person_name']}]" if f.get("person_name") else ""
        out_console.print(f"  {f['signal']}{who}: {f['verdict']} (strength: {f['strength']})", markup=False)
        out_console.print(f"    {f['summary']}", markup=False)
        for c in f["caveats"]:
            out_console.print(f"    - {c}", markup=False)
    out_console.print(f"\n{result['note']}", markup=False)


@app.command()
def demo(
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Write the sample export here and keep it.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the matches as JSON.")] = False,
) -> None:
    """Run the whole loop on generated sample data: build a Telegram export, enrol, scan, list matches.

    Uses a temporary workspace unless --workspace is given. The sample images come from scikit-image's
    bundled pictures; the "deepfakes" are a face pasted into landscapes.

    Example:
        reclaim demo
    """
    from reclaim.demo import run_demo

    def go() -> dict[str, Any]:
        return run_demo(workspace=state.workspace, keep=keep, console=None if as_json else out_console)

    result = _run(go)
    if as_json:
        _print_json(result)


trust_app = typer.Typer(
    help="The C2PA trust list: which signing certificates you trust. Empty by default; nothing is "
    "downloaded.",
    no_args_is_help=True,
)
app.add_typer(trust_app, name="trust")


@trust_app.command("set")
def trust_set(
    pem: Annotated[Path, typer.Argument(help="A PEM file of CA certificates you trust (trust anchors).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Trust these certificates as C2PA signing roots, from the next scan or 'explain --refresh' on.

    Without a trust list every valid C2PA signature is reported as "valid but untrusted". reclaim ships
    none and downloads none: choose the anchors yourself (for example a list you downloaded and checked).

    Example:
        reclaim trust set ./c2pa-trust-anchors.pem
    """
    from reclaim.forensics.c2pa import load_trust
    from reclaim.workspace import C2PA_TRUST_FILE

    def go() -> dict[str, Any]:
        trust = load_trust(pem)
        with _open() as ws:
            target = ws.root / C2PA_TRUST_FILE
            tmp = target.with_suffix(".tmp")
            tmp.write_text(trust.anchors_pem, encoding="ascii")
            os.replace(tmp, target)
            return {"anchors": len(trust.anchors), "file": str(target)}

    result = _run(go)
    if as_json:
        _print_json(result)
    else:
        out_console.print(f"Trusting {result['anchors']} certificate(s) as C2PA anchors.", markup=False)


@trust_app.command("show")
def trust_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show the configured C2PA trust anchors.

    Example:
        reclaim trust show --json
    """
    from cryptography import x509

    from reclaim.forensics.c2pa import C2paTrust

    def go() -> list[dict[str, str]]:
        with _open() as ws:
            trust = C2paTrust(anchors_pem=ws.c2pa_trust_pem() or "")
            out = []
            for block in trust.anchors:
                cert = x509.load_pem_x509_certificate(block.encode())
                out.append(
                    {
                        "subject": cert.subject.rfc4514_string(),
                        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
                    }
                )
            return out

    from cryptography.hazmat.primitives import hashes

    rows = _run(go)
    if as_json:
        _print_json(rows)
    elif not rows:
        out_console.print(
            "No trust anchors: valid C2PA signatures are reported as valid but untrusted.", markup=False
        )
    else:
        for r in rows:
            out_console.print(f"{r['sha256'][:16]}  {r['subject']}", markup=False)


@trust_app.command("clear")
def trust_clear() -> None:
    """Remove the C2PA trust list (valid signatures are then reported as untrusted).

    Example:
        reclaim trust clear
    """
    from reclaim.workspace import C2PA_TRUST_FILE

    def go() -> None:
        with _open() as ws:
            (ws.root / C2PA_TRUST_FILE).unlink(missing_ok=True)

    _run(go)
    out_console.print("C2PA trust list cleared.", markup=False)


custody_app = typer.Typer(help="The signed, hash-chained custody log.", no_args_is_help=True)
app.add_typer(custody_app, name="custody")


@custody_app.command("verify")
def custody_verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check every event of the custody log (the hash chain and each Ed25519 signature) and every stored
    RFC 3161 timestamp token against the event it names.

    Exit code 0 when the log is intact, 1 when anything was changed, deleted, inserted, reordered or
    forged (each problem is printed, naming the event).

    Example:
        reclaim custody verify --json
    """

    def go() -> dict[str, Any]:
        with _open() as ws, ws.session() as session:
            from sqlalchemy import func, select

            from reclaim.evidence.timestamp import list_tokens, verify_stored
            from reclaim.store.models import Event

            count = session.scalar(select(func.count()).select_from(Event)) or 0
            problems = ws.verify_custody() + verify_stored(ws)
            return {
                "events": count,
                "timestamps": len(list_tokens(ws)),
                "public_key": ws.signer.public_hex,
                "problems": problems,
            }

    result = _run(go)
    result["intact"] = not result["problems"]
    if as_json:
        _print_json(result)
    elif result["intact"]:
        out_console.print(
            f"Custody log intact: {result['events']} events signed by {result['public_key']}; "
            f"{result['timestamps']} timestamp token(s) verified.",
            markup=False,
        )
    else:
        for problem in result["problems"]:
            typer.echo(f"custody log: {problem}", err=True)
    if not result["intact"]:
        raise typer.Exit(code=1)


evidence_app = typer.Typer(
    help="Evidence packages for police and courts: export and verify.", no_args_is_help=True
)
app.add_typer(evidence_app, name="evidence")


@evidence_app.command("export")
def evidence_export(
    person: Annotated[str, typer.Option("--person", help="The person whose evidence to export.")],
    out: Annotated[Path, typer.Option("--out", help="The .zip file to write.")],
    confirmed_only: Annotated[
        bool,
        typer.Option("--confirmed-only", help="Only matches a reviewer confirmed (default: not rejected)."),
    ] = False,
    lang: Annotated[str, typer.Option("--lang", help="Language of report.pdf: en or ko.")] = "en",
    no_blur: Annotated[
        bool,
        typer.Option("--no-blur", help="Show images unblurred in report.pdf (a deliberate act, logged)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Write a signed evidence package: the original files exactly as received, manifest.json, the
    custody log with the public key, and report.pdf (images blurred unless --no-blur).

    Anyone can check it offline with 'reclaim evidence verify'.

    Example:
        reclaim evidence export --person 3f9a0c1d2e4b5a69 --confirmed-only --lang ko --out case07.zip
    """
    from reclaim.evidence.package import export_package
    from reclaim.evidence.report import pdf_report

    if lang not in ("en", "ko"):
        raise _fail(UserError("--lang must be en or ko"))

    def go() -> dict[str, Any]:
        with _open() as ws:
            report = pdf_report(cast(Literal["en", "ko"], lang), blur=not no_blur)
            if no_blur:
                from reclaim.events import log_event

                with ws.session() as session:
                    log_event(
                        session,
                        "media.unblurred",
                        subject=f"person:{person}",
                        detail={"purpose": "evidence report", "lang": lang},
                    )
                    session.commit()
            with err_console.status("Writing the evidence package (originals, manifest, log, report.pdf)…"):
                result = export_package(
                    ws, person_id=person, out=out, confirmed_only=confirmed_only, report=report
                )
            return {
                "path": str(result.path),
                "items": result.items,
                "matches": result.matches,
                "originals": result.originals,
                "withheld": result.withheld,
                "manifest_sha256": result.manifest_sha256,
                "event_id": result.event_id,
                "warnings": result.warnings,
            }

    result = _run(go)
    if as_json:
        _print_json(result)
        return
    out_console.print(
        f"Wrote {result['path']}: {result['items']} item(s), {result['matches']} match(es), "
        f"{result['originals']} original(s) ({result['withheld']} withheld); manifest "
        f"{result['manifest_sha256'][:16]}…, custody event {result['event_id']}.",
        markup=False,
    )
    for w in result["warnings"]:
        typer.echo(f"  warning: {w}", err=True)


@evidence_app.command("verify")
def evidence_verify(
    package: Annotated[Path, typer.Argument(help="The evidence package (.zip).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check an evidence package offline, without a workspace: every file's hash, the manifest's
    signature, the custody log's chain and signatures, and that every item and match is in the log.

    Exit code 0 when the package is intact, 1 when anything is wrong (each problem is printed).

    Example:
        reclaim evidence verify case07.zip --json
    """
    from reclaim.evidence.verify import verify_package

    if not package.exists():
        raise _fail(UserError(f"{package}: no such file"))
    report = verify_package(package)
    result = {
        "path": str(package),
        "ok": report.ok,
        "public_key": report.public_key,
        "checked": report.checked,
        "problems": report.problems,
    }
    if as_json:
        _print_json(result)
    elif report.ok:
        counts = ", ".join(f"{v} {k}" for k, v in report.checked.items())
        out_console.print(f"Package intact ({counts}); signed by {report.public_key}.", markup=False)
    else:
        for problem in report.problems:
            typer.echo(f"evidence: {problem}", err=True)
    if not report.ok:
        raise typer.Exit(code=1)


@app.command()
def timestamp(
    tsa: Annotated[
        str, typer.Option("--tsa", help="URL of the RFC 3161 time-stamping authority (there is no default).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Get a trusted timestamp (RFC 3161) for the custody log's current head from a TSA you name.

    This is the only command that contacts the network, and only the URL given. Only the head's
    SHA-256 leaves the machine. The token is verified, stored in the workspace and recorded in the log.

    Example:
        reclaim timestamp --tsa https://freetsa.org/tsr
    """
    from reclaim.evidence.timestamp import timestamp_head

    def go() -> dict[str, Any]:
        with _open() as ws:
            return timestamp_head(ws, tsa)

    result = _run(go)
    if as_json:
        _print_json(result)
    else:
        out_console.print(
            f"Event {result['event_id']} ({result['event_hash'][:16]}…) timestamped at {result['gen_time']} "
            f"by {result['tsa_name']}; token stored at {result['path']}.",
            markup=False,
        )


# --- the team server ---------------------------------------------------------------------------------------

user_app = typer.Typer(help="Team server accounts: add users, issue API tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")
case_app = typer.Typer(help="Team server cases.", no_args_is_help=True)
app.add_typer(case_app, name="case")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    server_mode: Annotated[
        bool,
        typer.Option(
            "--server-mode",
            help="Run as a shared team server: refuses default secrets (RECLAIM_SECRET_KEY, a passphrase "
            "of at least 12 characters) and sends cookies over HTTPS only (default: $RECLAIM_MODE).",
        ),
    ] = False,
) -> None:
    """Start the team server (web UI, REST API with OpenAPI at /docs, hash API) with uvicorn.

    Settings come from the environment: RECLAIM_PASSPHRASE, RECLAIM_SECRET_KEY, RECLAIM_DATABASE_URL,
    RECLAIM_COOKIE_SECURE, RECLAIM_PUBLIC_URL, RECLAIM_SCAN_WORKERS. Put it behind an HTTPS reverse proxy.

    Example:
        reclaim --workspace /srv/reclaim serve --server-mode --host 0.0.0.0 --port 8000
    """
    import uvicorn

    from reclaim.server.app import create_app
    from reclaim.server.jobs import install_jobs
    from reclaim.server.settings import ServerSettings

    def go() -> Any:
        settings = ServerSettings.from_env(_workspace_dir(), mode="server" if server_mode else None)
        server = create_app(settings)
        install_jobs(server)
        return server

    server = _run(go)
    uvicorn.run(server, host=host, port=port, proxy_headers=True)


@contextmanager
def _server_session() -> Iterator[Any]:
    with _open() as ws, ws.session() as session:
        yield session


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The user name to sign in with.")],
    role: Annotated[
        str, typer.Option("--role", help="admin, advocate, viewer (read-only) or platform (hash API only).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Add a team server user. The password comes from RECLAIM_NEW_PASSWORD or is asked twice.

    Example:
        reclaim user add alice --role advocate
    """
    from reclaim.server.auth import create_user

    def go() -> dict[str, Any]:
        password = os.environ.get("RECLAIM_NEW_PASSWORD")
        if password is None:
            if not sys.stdin.isatty():
                raise UserError("no password: set RECLAIM_NEW_PASSWORD or run in a terminal to be asked")
            password = typer.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
        with _server_session() as session:
            user = create_user(session, username=name, password=password, role=role)
            session.commit()
            return {"user_id": user.id, "username": user.username, "role": user.role}

    result = _run(go)
    if as_json:
        _print_json(result)
    else:
        out_console.print(
            f"Added {result['username']} ({result['role']}), id {result['user_id']}.", markup=False
        )


@user_app.command("token")
def user_token(
    name: Annotated[str, typer.Argument(help="The user the token acts as.")],
    label: Annotated[str, typer.Option("--label", help="What the token is for, e.g. 'platform X'.")] = "",
) -> None:
    """Issue an API token for a user and print it once (only its SHA-256 is stored).

    Example:
        reclaim user token platform-x --label "platform X integration"
    """
    from sqlalchemy import select

    from reclaim.errors import NotFound
    from reclaim.server.auth import create_token
    from reclaim.store.models import User

    def go() -> str:
        with _server_session() as session:
            user = session.scalar(select(User).where(User.username == name))
            if user is None:
                raise NotFound(f"no user named {name!r} (add one with 'reclaim user add')")
            token = create_token(session, user, label=label)
            session.commit()
            return token

    typer.echo(_run(go))


@case_app.command("assign")
def case_assign(
    case_id: Annotated[str, typer.Argument(help="The case's id.")],
    user: Annotated[str, typer.Argument(help="The user name to assign.")],
) -> None:
    """Assign a user to a case (they then see it; a viewer read-only).

    Example:
        reclaim case assign 3f9a0c1d2e4b5a69 alice
    """
    from sqlalchemy import select

    from reclaim.errors import NotFound
    from reclaim.server.auth import assign
    from reclaim.store.models import Case, User

    def go() -> None:
        with _server_session() as session:
            case = session.get(Case, case_id)
            if case is None:
                raise NotFound(f"no case {case_id!r}")
            account = session.scalar(select(User).where(User.username == user))
            if account is None:
                raise NotFound(f"no user named {user!r}")
            assign(session, case, account)
            session.commit()

    _run(go)
    out_console.print(f"Assigned {user} to case {case_id}.", markup=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
