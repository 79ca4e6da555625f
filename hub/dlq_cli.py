"""`hub dlq list|show|replay|purge`: the dead-letter queues of the hub's consumers (`infra.deadletters`).

Registered by `hub.cli` like a consumer's commands; nothing here is imported beyond argparse until a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from infra.cli import Subparsers, bind, command

if TYPE_CHECKING:
    from hub.settings import Settings


def register(sub: Subparsers, context: Callable[[], Settings]) -> None:
    """`hub dlq list|show|replay|purge`."""
    dlq = sub.add_parser("dlq", help="dead-letter queues: list, show, replay, purge")
    dlq_sub = dlq.add_subparsers(metavar="ACTION")
    dlq_list = dlq_sub.add_parser("list", help="messages per consumer's DLQ, with their reasons")
    dlq_list.add_argument("consumer", nargs="?", help="one consumer (default: all)")
    command(dlq_list, bind(_cmd_dlq_list, context))
    dlq_show = dlq_sub.add_parser("show", help="one dead-lettered message with its headers (and body with --body)")
    dlq_show.add_argument("consumer", help="a consumer: router, stats, status, deliveries, spikes, notifier")
    dlq_show.add_argument("message_id", help="the message id `hub dlq list` shows")
    dlq_show.add_argument("--body", action="store_true", help="print the body too (it may hold personal data)")
    command(dlq_show, bind(_cmd_dlq_show, context))
    dlq_replay = dlq_sub.add_parser("replay", help="send messages back to the consumer (deduplication still applies)")
    dlq_replay.add_argument("consumer", help="a consumer: router, stats, status, deliveries, spikes, notifier")
    which = dlq_replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", dest="message_id", help="one message")
    which.add_argument("--all", action="store_true", help="every message of the queue")
    command(dlq_replay, bind(_cmd_dlq_replay, context))
    dlq_purge = dlq_sub.add_parser("purge", help="delete every message of a consumer's DLQ (asks first)")
    dlq_purge.add_argument("consumer", help="a consumer: router, stats, status, deliveries, spikes, notifier")
    dlq_purge.add_argument("--yes", action="store_true", help="do not ask")
    command(dlq_purge, bind(_cmd_dlq_purge, context))


def _dlq_consumers(name: str | None) -> list[str]:
    from hub.topology import CONSUMERS

    if name is not None and name not in CONSUMERS:
        raise SystemExit(f"unknown consumer {name!r}; known: {', '.join(CONSUMERS)}")
    return [name] if name else list(CONSUMERS)


def _cmd_dlq_list(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from infra.deadletters import DeadLetterQueue

    for consumer in _dlq_consumers(args.consumer):
        letters = asyncio.run(DeadLetterQueue(settings.amqp_url, consumer).peek())
        print(f"{consumer}: {len(letters)} dead-lettered")
        for letter in letters:
            s = letter.summary()
            print(
                f"  {s['message_id']}  {s['failed_at']}  attempts={s['attempts']}  {s['original_route']}\n    {s['error']}"
            )
    return 0


def _cmd_dlq_show(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from infra.deadletters import DeadLetterQueue, render_body

    (consumer,) = _dlq_consumers(args.consumer)
    for letter in asyncio.run(DeadLetterQueue(settings.amqp_url, consumer).peek()):
        if letter.message_id == args.message_id:
            for key, value in sorted(letter.headers.items()):
                print(f"{key}: {value.decode() if isinstance(value, bytes) else value}")
            if args.body:
                print()
                print(render_body(letter.body))
            return 0
    print(f"no message {args.message_id!r} in the dead-letter queue of {consumer}", file=sys.stderr)
    return 1


def _cmd_dlq_replay(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from infra.deadletters import DeadLetterQueue

    (consumer,) = _dlq_consumers(args.consumer)
    n = asyncio.run(DeadLetterQueue(settings.amqp_url, consumer).replay(None if args.all else args.message_id))
    print(f"replayed {n} message(s) to hub.{consumer}")
    return 0 if n or args.all else 1


def _cmd_dlq_purge(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from infra.deadletters import DeadLetterQueue

    (consumer,) = _dlq_consumers(args.consumer)
    queue = DeadLetterQueue(settings.amqp_url, consumer)
    count = asyncio.run(queue.count())
    if not args.yes:
        answer = input(f"delete {count} message(s) from {queue.name} for good? type 'purge' to confirm: ")
        if answer.strip() != "purge":
            print("nothing deleted")
            return 1
    print(f"purged {asyncio.run(queue.purge())} message(s) from {queue.name}")
    return 0
