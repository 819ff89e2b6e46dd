"""``reclaim serve``, ``user`` and ``case``: run the team server and manage its accounts and cases."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from reclaim.cli.common import JsonOption, emit, open_session, say, secret, workspace_dir

user_app = typer.Typer(
    help="Team server accounts: add, list, deactivate and delete users; issue and revoke API tokens; reset "
    "passwords; list and end sessions. Every change is a custody event.",
    no_args_is_help=True,
)
case_app = typer.Typer(help="Team server cases.", no_args_is_help=True)


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
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="Trust X-Forwarded-For/-Proto only from these proxy addresses (comma-separated). Default: "
            "trust no proxy headers (a client could otherwise pick its own address and dodge the sign-in "
            "rate limit).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, help="Server processes (they share one copy of the hash bank: its file)."
        ),
    ] = 1,
) -> None:
    """Start the team server (web UI, REST API with OpenAPI at /openapi.json, hash API) with uvicorn.

    Settings come from the environment: RECLAIM_PASSPHRASE, RECLAIM_SECRET_KEY, RECLAIM_DATABASE_URL,
    RECLAIM_COOKIE_SECURE, RECLAIM_PUBLIC_URL, RECLAIM_SCAN_WORKERS. Put it behind an HTTPS reverse proxy.

    Example:
        reclaim --workspace /srv/reclaim serve --server-mode --host 0.0.0.0 --forwarded-allow-ips 10.0.0.2
    """
    import uvicorn

    from reclaim.server.app import create_app, run_workers
    from reclaim.server.jobs import install_jobs
    from reclaim.server.settings import ServerSettings

    settings = ServerSettings.from_env(workspace_dir(), mode="server" if server_mode else None)
    settings.check_host(host)
    proxy: dict[str, Any] = {
        "proxy_headers": bool(forwarded_allow_ips),
        "forwarded_allow_ips": forwarded_allow_ips,
    }
    if workers > 1:  # one process per worker; they share the hash bank's file
        return run_workers(settings, workers, host=host, port=port, **proxy)
    server = create_app(settings)
    install_jobs(server)
    uvicorn.run(server, host=host, port=port, **proxy)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The user name to sign in with.")],
    role: Annotated[
        str, typer.Option("--role", help="admin, advocate, viewer (read-only) or platform (hash API only).")
    ],
    as_json: JsonOption = False,
) -> None:
    """Add a team server user. The password comes from RECLAIM_NEW_PASSWORD or is asked twice.

    Example:
        reclaim user add alice --role advocate
    """
    from reclaim.server.auth import create_user

    password = secret("RECLAIM_NEW_PASSWORD", what="password", prompt=f"Password for {name}", confirm=True)
    with open_session() as session:
        user = create_user(session, username=name, password=password, role=role)
        session.commit()
        result = {"user_id": user.id, "username": user.username, "role": user.role}
    emit(result, as_json, _render_user)


def _render_user(r: dict[str, Any]) -> None:
    say(f"Added {r['username']} ({r['role']}), id {r['user_id']}.")


@user_app.command("token")
def user_token(
    name: Annotated[str, typer.Argument(help="The user the token acts as.")],
    label: Annotated[str, typer.Option("--label", help="What the token is for, e.g. 'platform X'.")] = "",
) -> None:
    """Issue an API token for a user and print it once (only its SHA-256 is stored).

    Example:
        reclaim user token platform-x --label "platform X integration"
    """
    from reclaim.server.auth import create_token, user_by_name

    with open_session() as session:
        token = create_token(session, user_by_name(session, name), label=label)
        session.commit()
    typer.echo(token)


@case_app.command("assign")
def case_assign(
    case_id: Annotated[str, typer.Argument(help="The case's id.")],
    user: Annotated[str, typer.Argument(help="The user name to assign.")],
) -> None:
    """Assign a user to a case (they then see it; a viewer read-only).

    Example:
        reclaim case assign 3f9a0c1d2e4b5a69 alice
    """
    from reclaim.server.auth import assign_by_name

    with open_session() as session:
        assign_by_name(session, case_id=case_id, username=user)
        session.commit()
    say(f"Assigned {user} to case {case_id}.")


# --- managing accounts (reclaim.server.accounts; every change a custody event) -----------------------------


@user_app.command("list")
def user_list(as_json: JsonOption = False) -> None:
    """List the team server's users (name, role, active, cases).

    Example:
        reclaim user list --json
    """
    from reclaim.server.accounts import list_user_rows

    with open_session() as session:
        rows = list_user_rows(session)
    emit(rows, as_json, _render_users)


def _render_users(rows: list[dict[str, object]]) -> None:
    for r in rows:
        state = "active" if r["active"] else "deactivated"
        say(f"{r['user_id']:>4}  {r['username']}  {r['role']}  {state}")


@user_app.command("tokens")
def user_tokens(
    name: Annotated[str, typer.Argument(help="The user whose tokens to list.")], as_json: JsonOption = False
) -> None:
    """List a user's API tokens: number, label, created, last used, revoked (never the token itself).

    Example:
        reclaim user tokens platform-x
    """
    from reclaim.server.accounts import list_tokens
    from reclaim.server.auth import user_by_name

    with open_session() as session:
        rows = [t.model_dump(mode="json") for t in list_tokens(session, user_by_name(session, name))]
    emit(rows, as_json, _render_tokens)


def _render_tokens(rows: list[dict[str, Any]]) -> None:
    for t in rows:
        state = "revoked" if t["revoked"] else f"last used {t['last_used_at'] or 'never'}"
        say(f"{t['token_id']:>4}  {t['label'] or '(no label)'}  created {t['created_at']}  {state}")


@user_app.command("revoke-token")
def user_revoke_token(
    name: Annotated[str, typer.Argument(help="The token's user.")],
    token_id: Annotated[int, typer.Argument(help="The token's number (see 'reclaim user tokens').")],
    as_json: JsonOption = False,
) -> None:
    """Revoke an API token: it fails from its next request.

    Example:
        reclaim user revoke-token platform-x 3
    """
    from reclaim.server.accounts import revoke_token
    from reclaim.server.auth import user_by_name

    with open_session() as session:
        info = revoke_token(session, user_by_name(session, name), token_id)
        session.commit()
    emit(info.model_dump(mode="json"), as_json, lambda r: say(f"Revoked token {r['token_id']}."))


def _account(action: str, name: str, as_json: bool) -> None:
    """Run one account change on the user called ``name``, commit, render."""
    from reclaim.server import accounts
    from reclaim.server.auth import user_by_name

    with open_session() as session:
        user = user_by_name(session, name)
        if action == "deactivate":
            change = accounts.set_active(session, user, active=False)
        elif action == "activate":
            change = accounts.set_active(session, user, active=True)
        elif action == "delete":
            change = accounts.delete_user(session, user)
        else:
            change = accounts.end_all_sessions(session, user)
        session.commit()
    emit(change.model_dump(mode="json"), as_json, lambda r: say(_CHANGED[action].format(**r)))


_CHANGED = {
    "deactivate": "Deactivated {username}: {sessions_ended} session(s) ended; their tokens fail.",
    "activate": "Reactivated {username}.",
    "delete": "Deleted {username}: {sessions_ended} session(s) ended, tokens and assignments removed.",
    "end-sessions": "Ended {sessions_ended} session(s) of {username}.",
}


@user_app.command("deactivate")
def user_deactivate(
    name: Annotated[str, typer.Argument(help="The user to deactivate.")], as_json: JsonOption = False
) -> None:
    """Deactivate a user: every session ends and every token fails (until 'reclaim user activate').

    Example:
        reclaim user deactivate alice
    """
    _account("deactivate", name, as_json)


@user_app.command("activate")
def user_activate(
    name: Annotated[str, typer.Argument(help="The user to reactivate.")], as_json: JsonOption = False
) -> None:
    """Reactivate a deactivated user (they sign in again; their unrevoked tokens work again).

    Example:
        reclaim user activate alice
    """
    _account("activate", name, as_json)


@user_app.command("delete")
def user_delete(
    name: Annotated[str, typer.Argument(help="The user to delete.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a user: sessions end; tokens and case assignments are removed. The custody log keeps what
    they did.

    Example:
        reclaim user delete alice --yes
    """
    if not yes:
        typer.confirm(f"Delete the user {name}?", abort=True)
    _account("delete", name, as_json)


@user_app.command("end-sessions")
def user_end_sessions(
    name: Annotated[str, typer.Argument(help="The user whose sessions to end.")], as_json: JsonOption = False
) -> None:
    """End every web session of a user (they sign in again; API tokens are not affected).

    Example:
        reclaim user end-sessions alice
    """
    _account("end-sessions", name, as_json)


@user_app.command("sessions")
def user_sessions(
    name: Annotated[str, typer.Argument(help="The user whose sessions to list.")], as_json: JsonOption = False
) -> None:
    """List a user's open web sessions: number, started, last seen, client address, browser.

    Example:
        reclaim user sessions alice
    """
    from reclaim.server.auth import user_by_name
    from reclaim.server.sessions import list_sessions

    with open_session() as session:
        rows = [s.model_dump(mode="json") for s in list_sessions(session, user_by_name(session, name).id)]
    emit(rows, as_json, _render_sessions)


def _render_sessions(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        say(f"{r['session_id']:>4}  since {r['created_at']}  last seen {r['last_seen_at']}  {r['client']}")
        say(f"      {r['user_agent'] or '(no browser named)'}")


@user_app.command("end-session")
def user_end_session(
    name: Annotated[str, typer.Argument(help="The session's user.")],
    session_id: Annotated[int, typer.Argument(help="The session's number (see 'reclaim user sessions').")],
) -> None:
    """End one web session of a user.

    Example:
        reclaim user end-session alice 12
    """
    from reclaim.server.accounts import end_one_session
    from reclaim.server.auth import user_by_name

    with open_session() as session:
        end_one_session(session, user_by_name(session, name), session_id)
        session.commit()
    say(f"Ended session {session_id}.")


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="The user whose password to set.")], as_json: JsonOption = False
) -> None:
    """Reset a user's password (from RECLAIM_NEW_PASSWORD, or asked twice); every session of theirs ends.

    Example:
        reclaim user password alice
    """
    from reclaim.server.accounts import reset_password
    from reclaim.server.auth import user_by_name

    password = secret(
        "RECLAIM_NEW_PASSWORD", what="password", prompt=f"New password for {name}", confirm=True
    )
    with open_session() as session:
        change = reset_password(session, user_by_name(session, name), new=password)
        session.commit()
    emit(
        change.model_dump(mode="json"),
        as_json,
        lambda r: say(f"Password of {r['username']} reset: {r['sessions_ended']} session(s) ended."),
    )
