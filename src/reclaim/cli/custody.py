"""``reclaim custody verify`` and ``reclaim timestamp``: check the signed custody log, and anchor its head
in time with an RFC 3161 authority."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from reclaim.cli.common import JsonOption, emit, open_workspace, say, warn

custody_app = typer.Typer(help="The signed, hash-chained custody log.", no_args_is_help=True)


@custody_app.command("verify")
def custody_verify(as_json: JsonOption = False) -> None:
    """Check every event of the custody log (the hash chain and each Ed25519 signature) and every stored
    RFC 3161 timestamp token against the event it names.

    Exit code 0 when the log is intact, 1 when anything was changed, deleted, inserted, reordered or
    forged (each problem is printed, naming the event).

    Example:
        reclaim custody verify --json
    """
    from reclaim.custody import count_events, log_recorded_by
    from reclaim.evidence.timestamp import list_tokens, verify_stored

    with open_workspace() as ws, ws.session() as session:
        problems = ws.verify_custody() + verify_stored(ws)
        result: dict[str, Any] = {
            "events": count_events(session),
            "timestamps": len(list_tokens(ws)),
            "public_key": ws.signer.public_hex,
            "problems": problems,
            "recorded_by": log_recorded_by(session),
        }
    result["intact"] = not result["problems"]
    emit(result, as_json, _render_custody)
    if not result["intact"]:
        raise typer.Exit(code=1)


def _render_custody(r: dict[str, Any]) -> None:
    if r["intact"]:
        say(
            f"Custody log intact: {r['events']} events signed by {r['public_key']}; "
            f"{r['timestamps']} timestamp token(s) verified."
        )
        from reclaim.custody import recorded_by_lines

        say("Events recorded by:")
        for line in recorded_by_lines(r["recorded_by"]):
            say(f"  {line}")
    else:
        for problem in r["problems"]:
            warn(f"custody log: {problem}")


def timestamp(
    tsa: Annotated[
        str, typer.Option("--tsa", help="URL of the RFC 3161 time-stamping authority (there is no default).")
    ],
    as_json: JsonOption = False,
) -> None:
    """Get a trusted timestamp (RFC 3161) for the custody log's current head from a TSA you name.

    This is the only command that contacts the network, and only the URL given. Only the head's
    SHA-256 leaves the machine. The token is verified, stored in the workspace and recorded in the log.

    Example:
        reclaim timestamp --tsa https://freetsa.org/tsr
    """
    from reclaim.evidence.timestamp import timestamp_head

    with open_workspace() as ws:
        result = timestamp_head(ws, tsa)
    emit(result, as_json, _render_timestamp)


def _render_timestamp(r: dict[str, Any]) -> None:
    say(
        f"Event {r['event_id']} ({r['event_hash'][:16]}…) timestamped at {r['gen_time']} "
        f"by {r['tsa_name']}; token stored at {r['path']}."
    )
