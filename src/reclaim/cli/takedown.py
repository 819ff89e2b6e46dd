"""``reclaim takedown``: draft notices per platform, send the e-mail ones, track every status change."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.table import Table

from reclaim.cli.common import (
    JsonOption,
    emit,
    err_console,
    open_session,
    open_workspace,
    out_console,
    print_json,
    say,
)
from reclaim.errors import UserError

takedown_app = typer.Typer(
    help="Takedown notices per platform: draft, send (e-mail routes only), track.", no_args_is_help=True
)


def _parse_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--at {value!r}: give an ISO time, e.g. 2026-11-20T09:00:00+09:00") from None
    if when.tzinfo is None:
        raise UserError("--at needs a time zone, e.g. 2026-11-20T09:00:00Z")
    return when


def _print_notices(rows: list[dict[str, Any]]) -> None:
    if not rows:
        say("No notices.")
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
def takedown_platforms(as_json: JsonOption = False) -> None:
    """List the platforms notices can go to: route, stated response time, languages, fields.

    Example:
        reclaim takedown platforms --json
    """
    from reclaim.takedown.platforms import all_platforms

    emit([p.describe() for p in all_platforms()], as_json, _render_platforms)


def _render_platforms(rows: list[dict[str, Any]]) -> None:
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
    as_json: JsonOption = False,
) -> None:
    """Draft one notice per platform covering every confirmed sighting there, in Korean and English, as
    text and as the field values the platform's form asks for. Nothing is sent.

    A minor's case is drafted only to routes for minors (Take It Down, KCSC, ADSC).

    Example:
        reclaim takedown draft --person 3f9a0c1d2e4b5a69 --lang both --contact advocate@example.org
    """
    from reclaim.takedown.drafting import LangChoice, draft_notices
    from reclaim.takedown.status import notice_dict

    if lang not in ("en", "ko", "both"):
        raise UserError("--lang must be en, ko or both")
    with open_session() as session:
        r = draft_notices(
            session, person_id=person, platform=platform, lang=cast(LangChoice, lang),
            name_visible=name_visible, contact=contact, recipient=to, package=package,
        )  # fmt: skip
        session.commit()
        result = {
            "notices": [notice_dict(n) for n in r.notices],
            "skipped": r.skipped,
            "unrouted_sightings": r.unrouted,
            "evidence": {"manifest_sha256": r.evidence.manifest_sha256 if r.evidence else None,
                         "source": r.evidence.source if r.evidence else "none"},
        }  # fmt: skip
    emit(result, as_json, _render_drafts)


def _render_drafts(result: dict[str, Any]) -> None:
    for n in result["notices"]:
        gaps = sorted({f for fs in n["missing_fields"].values() for f in fs})
        todo = f"; to complete: {', '.join(gaps)}" if gaps else ""
        say(f"{n['notice_id']}: {n['platform']} ({len(n['sightings'])} sighting(s)){todo}")
    for name, why in result["skipped"].items():
        say(f"{name}: skipped, {why}")
    if result["unrouted_sightings"]:
        say(
            f"{len(result['unrouted_sightings'])} confirmed sighting(s) on no drafted platform: name one "
            "with --platform (e.g. kcsc, email)"
        )
    if not result["evidence"]["manifest_sha256"]:
        say("No evidence package exported yet: the notices say so.")


@takedown_app.command("list")
def takedown_list(
    person: Annotated[str | None, typer.Option("--person", help="Only this person's notices.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only notices with this status.")] = None,
    platform: Annotated[str | None, typer.Option("--platform", help="Only this platform.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue notices.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List notices with their status and times (nothing is changed; see 'takedown status').

    Example:
        reclaim takedown list --person 3f9a0c1d2e4b5a69 --json
    """
    from reclaim.takedown.status import list_notices, notice_dict

    with open_session() as session:
        notices = list_notices(
            session, person_id=person, status=status, platform=platform, overdue_only=overdue
        )
        rows = [notice_dict(n) for n in notices]
    emit(rows, as_json, _print_notices)


@takedown_app.command("status")
def takedown_status(
    person: Annotated[str | None, typer.Option("--person", help="Only this person's notices.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue notices.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show the notices waiting for a platform; those past the platform's stated time become overdue
    (each such change is a custody event).

    Example:
        reclaim takedown status --overdue
    """
    from reclaim.takedown.status import list_notices, notice_dict, refresh_overdue

    with open_session() as session:
        flipped = [n.id for n in refresh_overdue(session)]
        session.commit()
        waiting = list_notices(
            session, person_id=person, status="overdue" if overdue else None, open_only=True
        )
        rows = [notice_dict(n) for n in waiting]
    emit({"newly_overdue": flipped, "notices": rows}, as_json, _render_status)


def _render_status(result: dict[str, Any]) -> None:
    _print_notices(result["notices"])
    for nid in result["newly_overdue"]:
        say(f"{nid}: now overdue")


@takedown_app.command("show")
def takedown_show(
    notice_id: Annotated[str, typer.Argument(help="The notice's id.")],
    as_json: JsonOption = False,
) -> None:
    """Print a notice's text (and with --json its field values per language, to copy into a form).

    Example:
        reclaim takedown show 5d1e0a9c3b7f2e64 --json
    """
    from reclaim.takedown.status import get_notice, notice_dict

    with open_session() as session:
        result = notice_dict(get_notice(session, notice_id), text=True)
    emit(result, as_json, _print_text)


def _print_text(notice: dict[str, Any]) -> None:
    sys.stdout.write(notice["text"])


@takedown_app.command("mark")
def takedown_mark(
    notice_id: Annotated[str, typer.Argument(help="The notice's id.")],
    status: Annotated[str, typer.Option("--status", help="sent, acknowledged, removed, refused or overdue.")],
    at: Annotated[
        str | None, typer.Option("--at", help="When it happened, ISO with zone (default: now).")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Kept in the custody log.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Record a notice's new status (e.g. filed by hand in a web form, acknowledged, removed, refused).
    Each change is a custody event.

    Example:
        reclaim takedown mark 5d1e0a9c3b7f2e64 --status removed --at 2026-11-21T10:00:00+09:00
    """
    from reclaim.takedown.status import notice_dict, set_status

    when = _parse_at(at)
    with open_session() as session:
        result = notice_dict(set_status(session, notice_id=notice_id, status=status, at=when, note=note))
        session.commit()
    emit(result, as_json, lambda r: say(f"{r['notice_id']}: {r['status']}"))


@takedown_app.command("send")
def takedown_send(
    notice_id: Annotated[str, typer.Argument(help="The notice's id (a draft with an e-mail route).")],
    to: Annotated[str | None, typer.Option("--to", help="Recipient address (default: the draft's).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Send a draft notice by e-mail through the SMTP server you configured: RECLAIM_SMTP_HOST, _PORT,
    _USER, _PASSWORD, _FROM and _TLS (starttls, ssl or none; default starttls), or smtp.json in the
    workspace. Only platforms with an e-mail route; this is reclaim's only network call for notices.
    A failure leaves the notice a draft with the error recorded (exit code 3).

    Example:
        RECLAIM_SMTP_HOST=smtp.example.org RECLAIM_SMTP_FROM=me@example.org reclaim takedown send 5d1e0a9c
    """
    from reclaim.takedown.sending import send_failed, send_notice, smtp_settings
    from reclaim.takedown.status import notice_dict

    with open_workspace() as ws, ws.session() as session:
        r = send_notice(session, notice_id=notice_id, settings=smtp_settings(ws.root), recipient=to)
        result = {**notice_dict(r.notice), "sent": r.sent, "message_id": r.message_id}
    if not r.sent:
        if as_json:
            print_json(result)
        raise send_failed(r)
    emit(result, as_json, lambda n: say(f"{n['notice_id']}: sent, due {n['due_at'] or 'not stated'}"))


@takedown_app.command("check")
def takedown_check(
    notice_id: Annotated[str | None, typer.Argument(help="The notice whose URLs to check.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Check every overdue notice.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Check whether what a notice asked to remove is still online: fetch every URL it covers (a network
    action: a plain HTTP GET naming reclaim, no cookies), compare what is served with the image (SHA-256,
    PDQ, robust match), keep a WARC of each check (encrypted) and log it. All removed: the notice becomes
    removed. Still up past the platform's stated time: overdue, and an escalation is drafted (not sent).

    Example:
        reclaim takedown check --overdue --json
    """
    from reclaim.takedown.removal import check_notices

    with open_workspace() as ws, ws.session() as session, err_console.status("Checking the addresses…"):
        results = check_notices(session, ws.vault, notice_id=notice_id, overdue=overdue)
    emit([r.to_dict() for r in results], as_json, _render_checks)


def _render_checks(rows: list[dict[str, Any]]) -> None:
    if not rows:
        say("No notice to check.")
    for r in rows:
        esc = f", escalation drafted: {r['escalation']}" if r["escalation"] else ""
        say(f"{r['notice_id']} ({r['platform']}): {r['error'] or r['outcome']}; status {r['status']}{esc}")
        for u in r["urls"]:
            how = f" by {u['matched_by']}" if u["matched_by"] else ""
            why = f" ({u['error']})" if u["error"] else ""
            say(f"  {u['url']}: HTTP {u['http_status'] or '-'}, {u['outcome']}{how}{why}")


@takedown_app.command("stats")
def takedown_stats(as_json: JsonOption = False) -> None:
    """Statistics per platform: notices by status, median hours from sending to removal, share refused.

    Example:
        reclaim takedown stats --json
    """
    from reclaim.takedown.status import platform_stats

    with open_session() as session:
        rows = platform_stats(session)
    emit(rows, as_json, _render_stats)


def _render_stats(rows: list[dict[str, Any]]) -> None:
    table = Table("platform", "notices", "removed", "refused", "median h to removal", "share refused")
    for r in rows:
        med = r["median_hours_to_removal"]
        share = r["share_refused"]
        table.add_row(
            r["platform"], str(r["notices"]), str(r["by_status"]["removed"]), str(r["by_status"]["refused"]),
            "" if med is None else f"{med:g}", "" if share is None else f"{share:.0%}",
        )  # fmt: skip
    out_console.print(table)
