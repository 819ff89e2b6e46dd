"""``reclaim evidence``: write a signed evidence package, and check one offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, cast

import typer

from reclaim.cli.common import JsonOption, emit, err_console, open_workspace, say, warn
from reclaim.errors import UserError

evidence_app = typer.Typer(
    help="Evidence packages for police and courts: export and verify.", no_args_is_help=True
)


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
    network: Annotated[
        bool,
        typer.Option(
            "--network",
            help="Add the spread network: network/network.graphml, senders.csv, timeline.csv, and its "
            "figure and a who-posted-where-when section in report.pdf.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Write a signed evidence package: the original files exactly as received, manifest.json, the
    custody log with the public key, and report.pdf (images blurred unless --no-blur). With --network,
    the spread network too (for police: who posted, where, when), covered by the signature.

    Anyone can check it offline with 'reclaim evidence verify'.

    Example:
        reclaim evidence export --person 3f9a0c1d2e4b5a69 --confirmed-only --lang ko --out case07.zip
    """
    from reclaim.evidence.package import export_package
    from reclaim.evidence.report import pdf_report
    from reclaim.review.service import record_unblurred

    if lang not in ("en", "ko"):
        raise UserError("--lang must be en or ko")
    with open_workspace() as ws:
        report = pdf_report(cast(Literal["en", "ko"], lang), blur=not no_blur)
        if no_blur:
            with ws.session() as session:
                record_unblurred(session, person_id=person, purpose="evidence report", lang=lang)
        with err_console.status("Writing the evidence package (originals, manifest, log, report.pdf)…"):
            r = export_package(
                ws, person_id=person, out=out, confirmed_only=confirmed_only, report=report, network=network
            )
    emit(_export_result(r), as_json, _render_export)


def _export_result(r: Any) -> dict[str, Any]:
    return {
        "path": str(r.path), "items": r.items, "matches": r.matches, "originals": r.originals,
        "withheld": r.withheld, "manifest_sha256": r.manifest_sha256, "event_id": r.event_id,
        "warnings": r.warnings,
    }  # fmt: skip


def _render_export(r: dict[str, Any]) -> None:
    say(
        f"Wrote {r['path']}: {r['items']} item(s), {r['matches']} match(es), "
        f"{r['originals']} original(s) ({r['withheld']} withheld); manifest "
        f"{r['manifest_sha256'][:16]}…, custody event {r['event_id']}."
    )
    for w in r["warnings"]:
        warn(f"  warning: {w}")


@evidence_app.command("verify")
def evidence_verify(
    package: Annotated[Path, typer.Argument(help="The evidence package (.zip).")],
    as_json: JsonOption = False,
) -> None:
    """Check an evidence package offline, without a workspace: every file's hash, the manifest's
    signature, the custody log's chain and signatures, and that every item and match is in the log.

    Exit code 0 when the package is intact, 1 when anything is wrong (each problem is printed).

    Example:
        reclaim evidence verify case07.zip --json
    """
    from reclaim.evidence.verify import verify_package

    if not package.exists():
        raise UserError(f"{package}: no such file")
    report = verify_package(package)
    result = {
        "path": str(package),
        "ok": report.ok,
        "public_key": report.public_key,
        "checked": report.checked,
        "problems": report.problems,
        "recorded_by": report.recorded_by,
    }
    emit(result, as_json, _render_verified)
    if not report.ok:
        raise typer.Exit(code=1)


def _render_verified(r: dict[str, Any]) -> None:
    if r["ok"]:
        counts = ", ".join(f"{v} {k}" for k, v in r["checked"].items())
        say(f"Package intact ({counts}); signed by {r['public_key']}.")
        from reclaim.custody import recorded_by_lines

        say("Events recorded by:")
        for line in recorded_by_lines(r["recorded_by"]):
            say(f"  {line}")
    else:
        for problem in r["problems"]:
            warn(f"evidence: {problem}")
