"""``reclaim serve``, ``user`` and ``case``: run the team server and manage its accounts and cases."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from reclaim.cli.common import JsonOption, emit, open_session, say, secret, workspace_dir

user_app = typer.Typer(help="Team server accounts: add users, issue API tokens.", no_args_is_help=True)
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
) -> None:
    """Start the team server (web UI, REST API with OpenAPI at /openapi.json, hash API) with uvicorn.

    Settings come from the environment: RECLAIM_PASSPHRASE, RECLAIM_SECRET_KEY, RECLAIM_DATABASE_URL,
    RECLAIM_COOKIE_SECURE, RECLAIM_PUBLIC_URL, RECLAIM_SCAN_WORKERS. Put it behind an HTTPS reverse proxy.

    Example:
        reclaim --workspace /srv/reclaim serve --server-mode --host 0.0.0.0 --forwarded-allow-ips 10.0.0.2
    """
    import uvicorn

    from reclaim.server.app import create_app
    from reclaim.server.jobs import install_jobs
    from reclaim.server.settings import ServerSettings

    settings = ServerSettings.from_env(workspace_dir(), mode="server" if server_mode else None)
    settings.check_host(host)
    server = create_app(settings)
    install_jobs(server)
    if forwarded_allow_ips:
        uvicorn.run(server, host=host, port=port, proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips)
    else:
        uvicorn.run(server, host=host, port=port, proxy_headers=False)


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
