"""`fila auth ...`: API keys (create, list, revoke) and their ACLs (set, get).

Every command here needs a superadmin key (``--api-key`` or ``FILA_API_KEY``), e.g. the
broker's bootstrap key. Permissions are written ``KIND:PATTERN``: ``produce:orders.*``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from fila.cli.common import CliError, FilaCommand, JsonOpt, handle_errors, session, state

app = typer.Typer(help="API keys and their permissions (needs a superadmin key).",
                  no_args_is_help=True)
key_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
acl_app = typer.Typer(help="Set and show what an API key may do.", no_args_is_help=True)
app.add_typer(key_app, name="key")
app.add_typer(acl_app, name="acl")

KeyIdArg = Annotated[str, typer.Argument(help="The key's id (from `fila auth key list`).")]
KINDS = ("produce", "consume", "admin")


def _when(ms: int) -> str:
    if not ms:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def parse_permission(text: str) -> tuple[str, str]:
    """``produce:orders.*`` -> ("produce", "orders.*")."""
    kind, sep, pattern = text.partition(":")
    if not sep or kind not in KINDS or not pattern:
        raise CliError(f"invalid permission {text!r}: expected KIND:PATTERN with KIND one of "
                       f"{', '.join(KINDS)} (e.g. produce:orders.*)")
    return kind, pattern


@key_app.command("create", cls=FilaCommand)
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for people (e.g. the service using it).")],
    expires_in: Annotated[
        int | None,
        typer.Option("--expires-in", min=1, metavar="SECONDS",
                     help="The key stops working this many seconds from now."),
    ] = None,
    superadmin: Annotated[
        bool, typer.Option("--superadmin", help="May do everything, keys and ACLs included.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Create an API key and print it. It is shown this once: the broker keeps a hash."""
    expires_at_ms = int(time.time() * 1000) + expires_in * 1000 if expires_in else 0
    with session(ctx, json_out) as (client, out):
        created = client.create_api_key(name, expires_at_ms=expires_at_ms,
                                        is_superadmin=superadmin)
        if out.json:
            out.emit_json({"key_id": created.key_id, "key": created.key, "name": name,
                           "is_superadmin": created.is_superadmin,
                           "expires_at_ms": expires_at_ms})
            return
        out.line(f'Created API key "{name}" (id {created.key_id})')
        out.line(f"Key: {created.key}")
        out.line("Store it now: it is not shown again.")
        if not superadmin:
            out.line(f"It may do nothing yet: fila auth acl set {created.key_id} "
                     "produce:QUEUE consume:QUEUE ...")


@key_app.command("list", cls=FilaCommand)
def list_(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List API keys (ids and names; never the keys themselves)."""
    with session(ctx, json_out) as (client, out):
        keys = client.list_api_keys()
        if out.json:
            out.emit_json([{"key_id": k.key_id, "name": k.name,
                            "created_at_ms": k.created_at_ms, "expires_at_ms": k.expires_at_ms,
                            "is_superadmin": k.is_superadmin} for k in keys])
        elif not keys:
            out.line("No API keys found.")
        else:
            out.table(["ID", "NAME", "CREATED", "EXPIRES", "SUPERADMIN"],
                      [[k.key_id, k.name, _when(k.created_at_ms), _when(k.expires_at_ms),
                        "yes" if k.is_superadmin else "no"] for k in keys])


@key_app.command("revoke", cls=FilaCommand)
def revoke(ctx: typer.Context, key_id: KeyIdArg, json_out: JsonOpt = False) -> None:
    """Revoke an API key: its next call is refused and its open streams end."""
    with session(ctx, json_out) as (client, out):
        client.revoke_api_key(key_id)
        out.done(f'Revoked API key "{key_id}"', {"key_id": key_id, "revoked": True})


@acl_app.command("set", cls=FilaCommand)
def set_(
    ctx: typer.Context,
    key_id: KeyIdArg,
    permissions: Annotated[
        list[str] | None,
        typer.Argument(help="KIND:PATTERN... (KIND: produce, consume, admin; PATTERN: a "
                            "queue, * or a prefix such as orders.*). None clears the ACL."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Replace what a key may do."""
    with handle_errors(state(ctx).addr):
        perms = [parse_permission(p) for p in permissions or ()]
    with session(ctx, json_out) as (client, out):
        client.set_acl(key_id, perms)
        text = ", ".join(f"{k}:{p}" for k, p in perms) or "(nothing)"
        out.done(f'Set ACL of "{key_id}": {text}',
                 {"key_id": key_id, "permissions": [{"kind": k, "pattern": p}
                                                    for k, p in perms]})


@acl_app.command("get", cls=FilaCommand)
def get(ctx: typer.Context, key_id: KeyIdArg, json_out: JsonOpt = False) -> None:
    """Show what a key may do."""
    with session(ctx, json_out) as (client, out):
        acl = client.get_acl(key_id)
        if out.json:
            out.emit_json({"key_id": acl.key_id, "is_superadmin": acl.is_superadmin,
                           "permissions": [{"kind": k, "pattern": p}
                                           for k, p in acl.permissions]})
            return
        if acl.is_superadmin:
            out.line(f'Key "{key_id}" is a superadmin: it may do everything.')
        if not acl.permissions:
            if not acl.is_superadmin:
                out.line(f'Key "{key_id}" has no permissions.')
            return
        out.table(["KIND", "PATTERN"], [[k, p] for k, p in acl.permissions])
