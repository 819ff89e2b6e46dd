"""``reclaim hashes``: share the hashes of confirmed items, import others' hash lists, check against them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer
from rich.table import Table

from reclaim.cli.common import JsonOption, emit, open_session, open_workspace, out_console, say
from reclaim.errors import UserError

hashes_app = typer.Typer(
    help="Share the hashes of confirmed items (never media or identities) and import others' hash lists.",
    no_args_is_help=True,
)


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
    as_json: JsonOption = False,
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
        raise UserError(f"--format must be one of {', '.join(EXPORT_FORMATS)}")
    with open_workspace() as ws, ws.session() as session:
        result = export_hashes(session, fmt=fmt, out=out, person_id=person, vault=ws.vault).to_dict()
    emit(result, as_json, _render_export)


def _render_export(r: dict[str, object]) -> None:
    say(
        f"Wrote {r['path']}: {r['hashes']} hash(es) ({r['pdq']} PDQ, {r['md5']} MD5, "
        f"{r.get('vpdq', 0)} vPDQ) "
        f"of {r['items']} confirmed item(s); {r['withheld_minor']} minor's item(s) withheld, "
        f"{r['skipped_low_quality']} too flat to hash."
    )
    if r["pdq_from_scan"]:
        typer.echo(
            f"  note: {r['pdq_from_scan']} PDQ hash(es) come from the scan (original not stored); they "
            "can differ from other tools' PDQ for images over 512 px or with transparency.",
            err=True,
        )


@hashes_app.command("import")
def hashes_import(
    file: Annotated[Path, typer.Argument(help="A threatexchange signal list, StopNCII-style or NCMEC file.")],
    bank: Annotated[str, typer.Option("--bank", help="The bank to add the hashes to (created if new).")],
    as_json: JsonOption = False,
) -> None:
    """Import a hash list into a named bank that scans match against (PDQ within 31 bits, including
    flips and rotations; MD5 exactly). Items already in the workspace are checked at once.

    Example:
        reclaim hashes import partner-list.txt --bank partner-ngo
    """
    from reclaim.sharing.service import import_hashes

    with open_workspace() as ws, ws.session() as session:
        result = import_hashes(session, path=file, bank=bank, key=ws.key).to_dict()
    emit(result, as_json, _render_import)


def _render_import(r: dict[str, object]) -> None:
    skipped = cast(dict[str, int], r["skipped"])
    say(
        f"Bank {r['bank']}: {r['added']} hash(es) added, {r['already_there']} already there"
        + (f", skipped {sum(skipped.values())} of other types" if skipped else "")
        + f"; {r['existing_items_hit']} item(s) in this workspace are on it."
    )


@hashes_app.command("banks")
def hashes_banks(as_json: JsonOption = False) -> None:
    """List the imported hash banks: hashes per type and how many items hit each.

    Example:
        reclaim hashes banks --json
    """
    from reclaim.sharing.service import list_banks

    with open_session() as session:
        rows = [b.to_dict() for b in list_banks(session)]
    emit(rows, as_json, _render_banks)


def _render_banks(rows: list[dict[str, object]]) -> None:
    table = Table("bank", "PDQ", "MD5", "hits")
    for r in rows:
        table.add_row(str(r["bank"]), str(r["pdq"]), str(r["md5"]), str(r["hits"]))
    out_console.print(table)


@hashes_app.command("check")
def hashes_check(
    bank: Annotated[str | None, typer.Option("--bank", help="Only list hits of this bank.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the imported banks over every item in the workspace, record new hits, and list all hits.

    Example:
        reclaim hashes check --bank partner-ngo
    """
    from reclaim.matching.banks import check_items, list_hits

    with open_workspace() as ws, ws.session() as session:
        new = len(check_items(session, key=ws.key))
        session.commit()
        result = {"new_hits": new, "hits": [h.to_dict() for h in list_hits(session, bank=bank)]}
    emit(result, as_json, _render_hits)


def _render_hits(result: dict[str, object]) -> None:
    hits = cast(list[dict[str, object]], result["hits"])
    table = Table("item (SHA-256)", "kind", "bank", "by", "bits")
    for h in hits:
        table.add_row(str(h["item_sha256"])[:16] + "…", str(h["kind"]), str(h["bank"]), str(h["by"]),
                      str(h["distance"]))  # fmt: skip
    out_console.print(table)
    say(f"{result['new_hits']} new hit(s), {len(hits)} in all.")
