"""``reclaim person``: enrol consenting persons, list them, erase them, bring their templates up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from reclaim.cli.common import JsonOption, emit, err_console, open_session, open_workspace, out_console, say

person_app = typer.Typer(help="Enrol consenting persons, list them, erase them.", no_args_is_help=True)


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
        typer.Option(
            "--known-image",
            help="An image or video the person already holds; kept as hashes only (a video also as vPDQ).",
        ),
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
    as_json: JsonOption = False,
) -> None:
    """Enrol a consenting person from one or more photos of their face.

    Each photo must show exactly one clear face. Without --keep-photos the photos are not stored, only
    encrypted face templates; with it they are kept encrypted for source-photo matching. Already
    scanned material is searched for the new person at once.

    Example:
        reclaim person add "Client 07" --photo a.jpg --photo b.jpg --consent "signed consent form, 2026-11-20"
    """
    from reclaim.persons.service import add_person

    with (
        open_workspace() as ws,
        ws.exclusive("the enrolment"),
        ws.session() as session,
        err_console.status("Enrolling: reading the photos, then searching the stored items…"),
    ):
        s = add_person(
            session, ws.key, name=name, photos=photo, consent=consent, known_images=known_image or [],
            minor=minor, vault=ws.vault, keep_photos=keep_photos,
        )  # fmt: skip
    result = {
        "person_id": s.person_id, "name": s.name, "templates": s.templates, "known_images": s.known_images,
        "kept_photos": s.kept_photos, "minor": s.minor, "matches_created": s.matches_created,
    }  # fmt: skip
    if s.known_videos:  # only then: the output of an enrolment without videos is unchanged
        result["known_videos"] = s.known_videos
        result["vpdq_problems"] = s.video_problems
    emit(result, as_json, _render_added)


def _render_added(r: dict[str, Any]) -> None:
    say(
        f"Enrolled {r['name']} as {r['person_id']}: {r['templates']} face template(s), "
        f"{r['known_images']} known image(s), {r['kept_photos']} photo(s) kept encrypted; "
        f"{r['matches_created']} match(es) in stored items."
    )
    for problem, n in r.get("vpdq_problems", {}).items():
        typer.echo(f"  {n} known video(s) without vPDQ: {problem}", err=True)


@person_app.command("list")
def person_list(as_json: JsonOption = False) -> None:
    """List enrolled persons.

    Example:
        reclaim person list --json
    """
    from reclaim.persons.service import list_persons

    with open_session() as session:
        rows = [
            {"person_id": p.person_id, "name": p.name, "templates": p.templates,
             "known_images": p.known_images, "minor": p.minor}
            for p in list_persons(session)
        ]  # fmt: skip
    emit(rows, as_json, _render_list)


def _render_list(rows: list[dict[str, Any]]) -> None:
    table = Table("person_id", "name", "templates", "known images", "minor")
    for r in rows:
        table.add_row(r["person_id"], r["name"], str(r["templates"]), str(r["known_images"]), str(r["minor"]))
    out_console.print(table)


@person_app.command("forget")
def person_forget(
    person_id: Annotated[str, typer.Argument(help="The person's id (see 'reclaim person list').")],
    as_json: JsonOption = False,
) -> None:
    """Erase a person: face templates, known-image hashes, kept photos, consent, matches and findings.

    Example:
        reclaim person forget 3f9a0c1d2e4b5a69
    """
    from reclaim.persons.service import forget_person
    from reclaim.server.bank import remove_workspace_bank_file

    with open_workspace() as ws, ws.session() as session:
        counts = forget_person(session, person_id, vault=ws.vault)
        remove_workspace_bank_file(ws.root)  # the server's copy of confirmed hashes (rebuilt without them)
    emit({"person_id": person_id, "erased": counts}, as_json, _render_forgotten)


def _render_forgotten(r: dict[str, Any]) -> None:
    c = r["erased"]
    say(
        f"Erased person {r['person_id']}: {c['templates']} template(s), {c['known_images']} known "
        f"image(s), {c['kept_photos']} kept photo(s), {c['matches']} match(es)."
    )


@person_app.command("reembed")
def person_reembed(
    person_id: Annotated[str, typer.Argument(help="The person's id (see 'reclaim person list').")],
    as_json: JsonOption = False,
) -> None:
    """Compute a person's face templates again with the current face model, from the reference photos
    kept at enrolment (--keep-photos). Templates without a kept photo stay as they are (still matched).

    Example:
        reclaim person reembed 3f9a0c1d2e4b5a69 --json
    """
    from reclaim.persons.service import reembed_templates

    with open_workspace() as ws, ws.session() as session:
        done, left = reembed_templates(session, ws.key, ws.vault, person_id)
    emit(
        {"person_id": person_id, "reembedded": done, "left_on_older_model": left}, as_json, _render_reembedded
    )


def _render_reembedded(r: dict[str, Any]) -> None:
    say(
        f"Person {r['person_id']}: {r['reembedded']} template(s) re-embedded; {r['left_on_older_model']} "
        "left on an older model (no kept photo; they are still matched)."
    )
