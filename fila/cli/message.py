"""`fila enqueue | consume | peek | message delete`: send, tail, browse and remove messages."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fila.cli.bulk import DEFAULT_BATCH
from fila.cli.common import (
    FilaCommand,
    JsonOpt,
    Output,
    YesOpt,
    confirm,
    describe_error,
    fail,
    format_payload,
    handle_errors,
    message_record,
    parse_headers,
    plural,
    session,
    state,
)
from fila.cli.oneshot import run_enqueue

if TYPE_CHECKING:
    from fila.errors import FilaError
    from fila.types import ConsumeMessage, ListedMessage

QueueArg = Annotated[str, typer.Argument(help="Queue name.", show_default=False)]

# `fila message ...`: what is done to one message by id.
app = typer.Typer(help="Act on one message by id.", no_args_is_help=True)

# ListMessages pages are capped server-side; ask for at most this many per call.
_PAGE = 100


def enqueue(
    ctx: typer.Context,
    queue: QueueArg,
    payload: Annotated[
        str | None,
        typer.Argument(help="Message body as text; '-' reads stdin.", show_default=False),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the body from this file.")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", metavar="K=V", help="A message header (repeatable)."),
    ] = None,
    delay: Annotated[
        int, typer.Option("--delay", metavar="MS", min=0, help="Deliver no earlier than in MS ms.")
    ] = 0,
    jsonl: Annotated[
        str | None,
        typer.Option("--jsonl", metavar="FILE",
                     help="Many messages: one JSON object per line ('-' reads stdin).",
                     show_default=False),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", metavar="N", min=1, max=1000,
                          help="With --jsonl: messages per EnqueueBatch RPC.")
    ] = DEFAULT_BATCH,
    json_out: JsonOpt = False,
) -> None:
    """Enqueue one message and print its id; or many from JSON lines (--jsonl)."""
    if jsonl is None:
        run_enqueue(state(ctx), queue, payload, file=file, headers=header, delay_ms=delay,
                    json_out=json_out)
        return
    if payload is not None or file is not None:
        raise typer.BadParameter("--jsonl replaces PAYLOAD and --file")
    from fila.cli.bulk import run_bulk_enqueue

    with handle_errors():
        headers = parse_headers(header)
    run_bulk_enqueue(state(ctx), queue, jsonl, headers=headers, delay_ms=delay,
                     batch_size=batch_size, json_out=json_out)


def _print_message(out: Output, msg: ConsumeMessage) -> None:
    if out.json:
        # One object per line (NDJSON) so a tail can be piped into jq.
        out.emit_json(message_record(msg), compact=True)
        return
    headers = " ".join(f"{k}={v}" for k, v in sorted(msg.headers.items()))
    parts = [msg.id, msg.fairness_key, f"attempt={msg.attempt_count}"]
    if headers:
        parts.append(f"[{headers}]")
    parts.append(format_payload(msg.payload))
    out.line(" ".join(parts))


def consume(
    ctx: typer.Context,
    queue: QueueArg,
    count: Annotated[
        int, typer.Option("--count", "-n", min=0, help="Stop after N messages (0 = until Ctrl-C).")
    ] = 0,
    ack: Annotated[bool, typer.Option("--ack", help="Ack each message after printing it.")] = False,
    nack: Annotated[
        str | None,
        typer.Option("--nack", metavar="REASON", help="Nack each message with REASON."),
    ] = None,
    batch: Annotated[
        int, typer.Option("--batch", metavar="N", min=1, max=1000,
                          help="Receive up to N messages per frame; --ack sends acks N at a time.")
    ] = 1,
    json_out: JsonOpt = False,
) -> None:
    """Tail a queue: print messages as they are delivered.

    Without --ack/--nack the leases are held until the command exits, then the
    broker releases them for redelivery.
    """
    if ack and nack is not None:
        raise typer.BadParameter("--ack and --nack exclude each other")
    settle = ack or nack is not None
    # Lease no more than we will print: a settling tail needs one at a time (with
    # --batch N: a frame in hand and a batch of acks in flight, 2N); a non-settling
    # one must hold `count` leases at once.
    prefetch = (2 * batch if batch > 1 else 1) if settle else count
    if count and settle:
        prefetch = min(prefetch, count)
    with session(ctx, json_out) as (client, out):
        stream = client.consume(queue, prefetch=prefetch, max_batch=batch if batch > 1 else 0)
        acker = client.acker(queue, max_batch=batch) if ack and batch > 1 else None
        seen = 0
        try:
            for msg in stream:
                _print_message(out, msg)
                seen += 1
                last = bool(count) and seen >= count
                if last:
                    # Close before settling the last one, so the broker does not lease us
                    # a message we will never read; the lease outlives the stream briefly
                    # (the server's release grace), so the ack still lands.
                    stream.close()
                if acker is not None:
                    acker.ack(msg.id)
                elif ack:
                    client.ack(queue, msg.id)
                elif nack is not None:
                    client.nack(queue, msg.id, nack)
                if last:
                    break
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        finally:
            stream.close()
            if acker is not None:  # what was printed is acked, also on Ctrl-C
                acker.close()
                _report_refused(acker.failed, st_addr=state(ctx).addr)


def _report_refused(failed: list[tuple[str, FilaError]], st_addr: str) -> None:
    for message_id, error in failed:
        sys.stderr.write(f"Error: not acked {message_id}: {describe_error(error, st_addr)}\n")
    if failed:
        raise fail(f"{plural(len(failed), 'message')} printed but not acked")


def peek(
    ctx: typer.Context,
    queue: QueueArg,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Show at most N messages.")
    ] = 20,
    key: Annotated[
        str, typer.Option("--key", "-k", help="Only messages of this fairness key.")
    ] = "",
    json_out: JsonOpt = False,
) -> None:
    """Show messages waiting in a queue (a DLQ, a backlog) without leasing them."""
    with session(ctx, json_out) as (client, out):
        listed: list[ListedMessage] = []
        token = ""
        while len(listed) < limit:
            page, token = client.list_messages(
                queue, fairness_key=key, limit=min(_PAGE, limit - len(listed)), page_token=token
            )
            listed.extend(page)
            if not token or not page:
                break
        listed = listed[:limit]
        if out.json:
            out.emit_json(
                [
                    message_record(m.message, state=m.state, deliver_after_ms=m.deliver_after_ms)
                    for m in listed
                ]
            )
            return
        if not listed:
            out.line(f'No messages in "{queue}".')
            return
        rows = [
            [
                m.message.id,
                m.message.fairness_key,
                m.state,
                str(m.message.attempt_count),
                m.message.last_error,
                _short(format_payload(m.message.payload)),
            ]
            for m in listed
        ]
        out.table(["ID", "KEY", "STATE", "ATTEMPTS", "LAST_ERROR", "PAYLOAD"], rows, right=(3,),
                  fold=(4,))
        if token and out.terminal:
            out.line(f"(more messages; use --limit to see more than {limit})", style="dim")


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("delete", cls=FilaCommand)
def delete(
    ctx: typer.Context,
    queue: QueueArg,
    message_id: Annotated[str, typer.Argument(metavar="ID", help="The message id.")],
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Delete one message for good (refused while a consumer holds its lease)."""
    with session(ctx, json_out) as (client, out):
        confirm(ctx, f'Delete message "{message_id}" from "{queue}"?', yes=yes)
        was = client.delete_message(queue, message_id)
        out.done(f'Deleted message "{message_id}" from "{queue}"',
                 {"queue": queue, "deleted": message_id, "state": was})
