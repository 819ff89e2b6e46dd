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


# --- hash sharing ------------------------------------------------------------------------------------------

hashes_app = typer.Typer(
    help="Share the hashes of confirmed items (never media or identities) and import others' hash lists.",
    no_args_is_help=True,
)
app.add_typer(hashes_app, name="hashes")


@hashes_app.command("export")
def hashes_export(
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="te: python-threatexchange signal list; stopncii: StopNCII-style JSON (adults); "
            "ncmec: NCMEC Take It Down JSON (minors only).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="The file to write.")],
    person: Annotated[
        str | None, typer.Option("--person", help="Only items confirmed for this person (default: all).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Export the hashes of confirmed items: PDQ for images, MD5 for videos. Only hashes are written:
    no media, names, person or case ids, chats or messages.

    A minor's items are exported only with --format ncmec (NCMEC Take It Down); te and stopncii leave
    them out, and refuse a --person who is a minor.

    Example:
        reclaim hashes export --format stopncii --person 3f9a0c1d2e4b5a69 --out client07-stopncii.json
    """
    from reclaim.sharing.export import EXPORT_FORMATS
    from reclaim.sharing.service import export_hashes

    if fmt not in EXPORT_FORMATS:
        raise _fail(UserError(f"--format must be one of {', '.join(EXPORT_FORMATS)}"))

    def go() -> dict[str, object]:
        with _open() as ws, ws.session() as session:
            result = export_hashes(session, fmt=fmt, out=out, person_id=person, vault=ws.vault)
            return result.to_dict()

    result = _run(go)
    if as_json:
        _print_json(result)
        return
    out_console.print(
        f"Wrote {result['path']}: {result['hashes']} hash(es) ({result['pdq']} PDQ, {result['md5']} MD5) "
        f"of {result['items']} confirmed item(s); {result['withheld_minor']} minor's item(s) withheld, "
        f"{result['skipped_low_quality']} too flat to hash.",
        markup=False,
    )
    if result["pdq_from_scan"]:
        typer.echo(
            f"  note: {result['pdq_from_scan']} PDQ hash(es) come from the scan (original not stored); they "
            "can differ from other tools' PDQ for images over 512 px or with transparency.",
            err=True,
        )


@hashes_app.command("import")
def hashes_import(
    file: Annotated[Path, typer.Argument(help="A threatexchange signal list, StopNCII-style or NCMEC file.")],
    bank: Annotated[str, typer.Option("--bank", help="The bank to add the hashes to (created if new).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Import a hash list into a named bank that scans match against (PDQ within 31 bits, including
    flips and rotations; MD5 exactly). Items already in the workspace are checked at once.

    Example:
        reclaim hashes import partner-list.txt --bank partner-ngo
    """
    from reclaim.sharing.service import import_hashes

    def go() -> dict[str, object]:
        with _open() as ws, ws.session() as session:
            return import_hashes(session, path=file, bank=bank).to_dict()

    result = _run(go)
    if as_json:
        _print_json(result)
        return
    skipped = cast(dict[str, int], result["skipped"])
    out_console.print(
        f"Bank {result['bank']}: {result['added']} hash(es) added, {result['already_there']} already there"
        + (f", skipped {sum(skipped.values())} of other types" if skipped else "")
        + f"; {result['existing_items_hit']} item(s) in this workspace are on it.",
        markup=False,
    )


@hashes_app.command("banks")
def hashes_banks(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List the imported hash banks: hashes per type and how many items hit each.

    Example:
        reclaim hashes banks --json
    """
    from reclaim.sharing.service import list_banks

    def go() -> list[dict[str, object]]:
        with _open() as ws, ws.session() as session:
            return [b.to_dict() for b in list_banks(session)]

    rows = _run(go)
    if as_json:
        _print_json(rows)
        return
    table = Table("bank", "PDQ", "MD5", "hits")
    for r in rows:
        table.add_row(str(r["bank"]), str(r["pdq"]), str(r["md5"]), str(r["hits"]))
    out_console.print(table)


@hashes_app.command("check")
def hashes_check(
    bank: Annotated[str | None, typer.Option("--bank", help="Only list hits of this bank.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Run the imported banks over every item in the workspace, record new hits, and list all hits.

    Example:
        reclaim hashes check --bank partner-ngo
    """
    from reclaim.matching.banks import check_items, list_hits

    def go() -> dict[str, object]:
        with _open() as ws, ws.session() as session:
            new = len(check_items(session))
            session.commit()
            return {"new_hits": new, "hits": [h.to_dict() for h in list_hits(session, bank=bank)]}

    result = _run(go)
    if as_json:
        _print_json(result)
        return
    hits = cast(list[dict[str, object]], result["hits"])
    table = Table("item (SHA-256)", "kind", "bank", "by", "bits")
    for h in hits:
        table.add_row(str(h["item_sha256"])[:16] + "…", str(h["kind"]), str(h["bank"]), str(h["by"]),
                      str(h["distance"]))  # fmt: skip
    out_console.print(table)
    out_console.print(f"{result['new_hits']} new hit(s), {len(hits)} in all.", markup=False)


# --- takedown notices ---------------------------------------------------------------------------------

takedown_app = typer.Typer(
    help="Takedown notices per platform: draft, send (e-mail routes only), track.", no_args_is_help=True
)
app.add_typer(takedown_app, name="takedown")


def _parse_at(value: str | None) -> Any:
    if value is None:
        return None
    from datetime import datetime

    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(UserError(f"--at {value!r}: give an ISO time, e.g. 2026-11-20T09:00:00+09:00")) from None
    if when.tzinfo is None:
        raise _fail(UserError("--at needs a time zone, e.g. 2026-11-20T09:00:00Z"))
    return when


def _print_notices(rows: list[dict[str, Any]]) -> None:
    if not rows:
        out_console.print("No notices.", markup=False)
        return
    table = Table("notice", "platform", "status", "sightings", "sent", "due", "overdue by")
    for r in rows:
        over = f"{r['overdue_by_hours']} h" if r["overdue_by_hours"] is not None else ""
        table.add_row(
            r["notice_id"], r["platform"], r["status"], str(len(r["sightings"])),
            (r["sent_at"] or "")[:16], (r["due_at"] or "not stated" if r["sent_at"] else "")[:16], over,
        )  # fmt: skip
    out_console.print(table)


@takedown_app.command("platforms")
def takedown_platforms(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List the platforms notices can go to: route, stated response time, languages, fields.

    Example:
        reclaim takedown platforms --json
    """
    from reclaim.takedown.platforms import all_platforms

    rows = [p.describe() for p in all_platforms()]
    if as_json:
        _print_json(rows)
        return
    table = Table("platform", "route", "response", "languages", "minors")
    for r in rows:
        langs = r["languages"] if isinstance(r["languages"], str) else ", ".join(r["languages"])
        minors = "minors' route" if r["for_minors"] else ("adults only" if r["adults_only"] else "")
        table.add_row(r["name"], r["route_kind"], r["response"], langs, minors)
    out_console.print(table)


@takedown_app.command("draft")
def takedown_draft(
    person: Annotated[str, typer.Option("--person", help="The person whose confirmed sightings to cover.")],
    platform: Annotated[
        str | None,
        typer.Option("--platform", help="Only this platform (see 'reclaim takedown platforms')."),
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="en, ko or both.")] = "both",
    name_visible: Annotated[
        bool,
        typer.Option("--name-visible", help="Use the person's name instead of a pseudonym (their choice)."),
    ] = False,
    contact: Annotated[
        str | None, typer.Option("--contact", help="How the platform can reach the reporter.")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Recipient address (the generic e-mail platform).")
    ] = None,
    package: Annotated[
        Path | None,
        typer.Option("--package", help="Cite this evidence package's manifest hash (default: the latest)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Draft one notice per platform covering every confirmed sighting there, in Korean and English, as
    text and as the field values the platform's form asks for. Nothing is sent.

    A minor's case is drafted only to routes for minors (Take It Down, KCSC, ADSC).

    Example:
        reclaim takedown draft --person 3f9a0c1d2e4b5a69 --lang both --contact advocate@example.org
    """
    from reclaim.takedown.service import LangChoice, draft_notices, notice_dict

    if lang not in ("en", "ko", "both"):
        raise _fail(UserError("--lang must be en, ko or both"))

    def go() -> dict[str, Any]:
        with _open() as ws, ws.session() as session:
            r = draft_notices(
                session, person_id=person, platform=platform, lang=cast(LangChoice, lang),
                name_visible=name_visible, contact=contact, recipient=to, package=package,
            )  # fmt: skip
            session.commit()
            return {
                "notices": [notice_dict(n) for n in r.notices],
                "skipped": r.skipped,
                "unrouted_sightings": r.unrouted,
                "evidence": {
                    "manifest_sha256": r.evidence.manifest_sha256 if r.evidence else None,
                    "source": r.evidence.source if r.evidence else "none",
                },
            }

    result = _run(go)
    if as_json:
        _print_json(result)
        return
    for n in result["notices"]:
        gaps = sorted({f for fs in n["missing_fields"].values() for f in fs})
        todo = f"; to complete: {', '.join(gaps)}" if gaps else ""
        out_console.print(
            f"{n['notice_id']}: {n['platform']} ({len(n['sightings'])} sighting(s)){todo}", markup=False
        )
    for name, why in result["skipped"].items():
        out_console.print(f"{name}: skipped, {why}", markup=False)
    if result["unrouted_sightings"]:
        out_console.print(
            f"{len(result['unrouted_sightings'])} confirmed sighting(s) on no drafted platform: name one "
            "with --platform (e.g. kcsc, email)",
            markup=False,
        )
    if not result["evidence"]["manifest_sha256"]:
        out_console.print("No evidence package exported yet: the notices say so.", markup=False)


@takedown_app.command("list")
def takedown_list(
    person: Annotated[str | None, typer.Option("--person", help="Only this person's notices.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only notices with this status.")] = None,
    platform: Annotated[str | None, typer.Option("--platform", help="Only this platform.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue notices.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List notices with their status and times (nothing is changed; see 'takedown status').

    Example:
        reclaim takedown list --person 3f9a0c1d2e4b5a69 --json
    """
    from reclaim.takedown.service import list_notices, notice_dict

    def go() -> list[dict[str, Any]]:
        with _open() as ws, ws.session() as session:
            rows = [
                notice_dict(n)
                for n in list_notices(session, person_id=person, status=status, platform=platform)
            ]
            return [r for r in rows if r["status"] == "overdue" or r["overdue_by_hours"]] if overdue else rows

    rows = _run(go)
    if as_json:
        _print_json(rows)
    else:
        _print_notices(rows)


@takedown_app.command("status")
def takedown_status(
    person: Annotated[str | None, typer.Option("--person", help="Only this person's notices.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue notices.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show the notices waiting for a platform; those past the platform's stated time become overdue
    (each such change is a custody event).

    Example:
        reclaim takedown status --overdue
    """
    from reclaim.takedown.service import OPEN, list_notices, notice_dict, refresh_overdue

    def go() -> dict[str, Any]:
        with _open() as ws, ws.session() as session:
            flipped = [n.id for n in refresh_overdue(session)]
            session.commit()
            rows = [
                notice_dict(n)
                for n in list_notices(session, person_id=person)
                if n.status in OPEN and (not overdue or n.status == "overdue")
            ]
            return {"newly_overdue": flipped, "notices": rows}

    result = _run(go)
    if as_json:
        _print_json(result)
        return
    _print_notices(result["notices"])
    for nid in result["newly_overdue"]:
        out_console.print(f"{nid}: now overdue", markup=False)


@takedown_app.command("show")
def takedown_show(
    notice_id: Annotated[str, typer.Argument(help="The notice's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Print a notice's text (and with --json its field values per language, to copy into a form).

    Example:
        reclaim takedown show 5d1e0a9c3b7f2e64 --json
    """
    from reclaim.takedown.service import get_notice, notice_dict

    def go() -> dict[str, Any]:
        with _open() as ws, ws.session() as session:
            return notice_dict(get_notice(session, notice_id), text=True)

    result = _run(go)
    if as_json:
        _print_json(result)
    else:
        sys.stdout.write(result["text"])


@takedown_app.command("mark")
def takedown_mark(
    notice_id: Annotated[str, typer.Argument(help="The notice's id.")],
    status: Annotated[str, typer.Option("--status", help="sent, acknowledged, removed, refused or overdue.")],
    at: Annotated[
        str | None, typer.Option("--at", help="When it happened, ISO with zone (default: now).")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Kept in the custody log.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Record a notice's new status (e.g. filed by hand in a web form, acknowledged, removed, refused).
    Each change is a custody event.

    Example:
        reclaim takedown mark 5d1e0a9c3b7f2e64 --status removed --at 2026-11-21T10:00:00+09:00
    """
    from reclaim.takedown.service import notice_dict, set_status

    when = _parse_at(at)

    def go() -> dict[str, Any]:
        with _open() as ws, ws.session() as session:
            n = set_status(session, notice_id=notice_id, status=status, at=when, note=note)
            session.commit()
            return notice_dict(n)

    result = _run(go)
    if as_json:
        _print_json(result)
    else:
        out_console.print(f"{result['notice_id']}: {result['status']}", markup=False)


@takedown_app.command("send")
def takedown_send(
    notice_id: Annotated[str, typer.Argument(help="The notice's id (a draft with an e-mail route).")],
    to: Annotated[str | None, typer.Option("--to", help="Recipient address (default: the draft's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Send a draft notice by e-mail through the SMTP server you configured: RECLAIM_SMTP_HOST, _PORT,
    _USER, _PASSWORD, _FROM and _TLS (starttls, ssl or none; default starttls), or smtp.json in the
    workspace. Only platforms with an e-mail route; this is reclaim's only network call for notices.
    A failure leaves the notice a draft with the error recorded (exit code 3).

    Example:
        RECLAIM_SMTP_HOST=smtp.example.org RECLAIM_SMTP_FROM=me@example.org reclaim takedown send 5d1e0a9c
    """
    from reclaim.takedown.service import notice_dict, send_failed, send_notice, smtp_settings

    def go() -> dict[str, Any]:
        with _open() as ws, ws.session() as session:
            r = send_notice(session, notice_id=notice_id, settings=smtp_settings(ws.root), recipient=to)
            out = notice_dict(r.notice)
            out["sent"] = r.sent
            out["message_id"] = r.message_id
            if not r.sent:
                if as_json:
                    _print_json(out)
                raise send_failed(r)
            return out

    result = _run(go)
    if as_json:
        _print_json(result)
    else:
        out_console.print(
            f"{result['notice_id']}: sent, due {result['due_at'] or 'not stated'}", markup=False
        )


@takedown_app.command("stats")
def takedown_stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Statistics per platform: notices by status, median hours from sending to removal, share refused.

    Example:
        reclaim takedown stats --json
    """
    from reclaim.takedown.service import platform_stats

    def go() -> list[dict[str, Any]]:
        with _open() as ws, ws.session() as session:
            return platform_stats(session)

    rows = _run(go)
    if as_json:
        _print_json(rows)
        return
    table = Table("platform", "notices", "removed", "refused", "median h to removal", "share refused")
    for r in rows:
        med = r["median_hours_to_removal"]
        share = r["share_refused"]
        table.add_row(
            r["platform"], str(r["notices"]), str(r["by_status"]["removed"]), str(r["by_status"]["refused"]),
            "" if med is None else f"{med:g}", "" if share is None else f"{share:.0%}",
        )  # fmt: skip
    out_console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
