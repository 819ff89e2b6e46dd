"""``reclaim trust``: the C2PA trust anchors the user chose (none are shipped, nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from reclaim.cli.common import JsonOption, emit, open_workspace, say

trust_app = typer.Typer(
    help="The C2PA trust list: which signing certificates you trust. Empty by default; nothing is "
    "downloaded.",
    no_args_is_help=True,
)


@trust_app.command("set")
def trust_set(
    pem: Annotated[Path, typer.Argument(help="A PEM file of CA certificates you trust (trust anchors).")],
    as_json: JsonOption = False,
) -> None:
    """Trust these certificates as C2PA signing roots, from the next scan or 'explain --refresh' on.

    Without a trust list every valid C2PA signature is reported as "valid but untrusted". reclaim ships
    none and downloads none: choose the anchors yourself (for example a list you downloaded and checked).

    Example:
        reclaim trust set ./c2pa-trust-anchors.pem
    """
    from reclaim.forensics.c2pa import load_trust

    trust = load_trust(pem)
    with open_workspace() as ws:
        target = ws.set_c2pa_trust_pem(trust.anchors_pem)
    result = {"anchors": len(trust.anchors), "file": str(target)}
    emit(result, as_json, lambda r: say(f"Trusting {r['anchors']} certificate(s) as C2PA anchors."))


@trust_app.command("show")
def trust_show(as_json: JsonOption = False) -> None:
    """Show the configured C2PA trust anchors.

    Example:
        reclaim trust show --json
    """
    from reclaim.forensics.c2pa import C2paTrust

    with open_workspace() as ws:
        rows = C2paTrust(anchors_pem=ws.c2pa_trust_pem() or "").describe_anchors()
    emit(rows, as_json, _render_anchors)


def _render_anchors(rows: list[dict[str, Any]]) -> None:
    if not rows:
        say("No trust anchors: valid C2PA signatures are reported as valid but untrusted.")
    for r in rows:
        say(f"{r['sha256'][:16]}  {r['subject']}")


@trust_app.command("clear")
def trust_clear() -> None:
    """Remove the C2PA trust list (valid signatures are then reported as untrusted).

    Example:
        reclaim trust clear
    """
    with open_workspace() as ws:
        ws.clear_c2pa_trust()
    say("C2PA trust list cleared.")
