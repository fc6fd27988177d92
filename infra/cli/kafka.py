"""Kafka subcommands: `zhibao relay` publishes the store to per-county topics; `zhibao
consume --county CODE` builds a county's views from its topic alone."""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from infra.cli.common import UserError, check_databases, console, open_app

STATUS_EVERY_SECONDS = 2.0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser(
        "relay", help="publish every stored event to its county's Kafka topic",
        description="Publish stored events in order to <prefix>.events.<county code> "
                    "(settings: ZHIBAO_KAFKA_*). Follows the store until interrupted.")
    p.add_argument("--once", action="store_true",
                   help="publish what is stored now, then exit")
    p.set_defaults(run=run_relay)

    p = subparsers.add_parser(
        "consume", help="build a county's views from its Kafka topic",
        description="Read <prefix>.events.<county code> with explicit partition assignment "
                    "into the views database (ZHIBAO_VIEWS_URL, else beside "
                    "--database-url / ZHIBAO_DATABASE_URL). "
                    "Follows the topic until interrupted.")
    p.add_argument("--county", required=True, metavar="CODE",
                   help="the county's code as registered, e.g. 610902")
    p.add_argument("--once", action="store_true",
                   help="consume what the topic holds now, then exit")
    p.add_argument("--clear-alarm", action="store_true",
                   help="after investigating a fork alarm: clear it and trust the next "
                        "checkpoint as a first one")
    p.set_defaults(run=run_consume)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)


class _Status:
    """Prints progress at most every few seconds, and once at the end."""

    def __init__(self, render: Any) -> None:
        self.render = render
        self.last = 0.0

    def __call__(self, progress: Any, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self.last >= STATUS_EVERY_SECONDS:
            self.last = now
            console.print(self.render(progress))


def run_relay(args: argparse.Namespace) -> int:
    from infra.kafka.relay import Relay, RelayError, RelayProgress

    def render(p: RelayProgress) -> str:
        return (f"relay: {p.published} events published, position {p.position} of "
                f"{p.head} (lag {p.lag}), {p.rate:,.0f} events/s, {p.retries} reconnections")

    _logging()
    status = _Status(render)
    relay = Relay(open_app(), on_progress=status)
    try:
        progress = relay.run(follow=not args.once)
    except RelayError as e:
        raise UserError(str(e)) from None
    except KeyboardInterrupt:
        relay.stop.set()
        progress = relay.progress
    status(progress, final=True)
    return 0


def run_consume(args: argparse.Namespace) -> int:
    from infra.kafka.consumer import ConsumeProgress, CountyConsumer
    from infra.settings import get_settings
    from projections.store import views_url_for

    def render(p: ConsumeProgress) -> str:
        dead = sum(p.dead_letters.values())
        return (f"consume {' + '.join(p.topics)}: {p.applied} events applied, "
                f"{p.duplicates} duplicates dropped, {dead} dead letters, lag {p.lag}")

    from infra.audit.witness import ForkDetected

    _logging()
    status = _Status(render)
    settings = get_settings()
    check_databases(settings.views_url or views_url_for(settings.database_url))
    consumer = CountyConsumer.from_settings(args.county, on_progress=status)
    try:
        if args.clear_alarm:
            consumer.clear_alarm()
        progress = consumer.run(follow=not args.once)
    except KeyboardInterrupt:
        consumer.stop.set()
        progress = consumer.progress
    except ForkDetected as e:
        console.print(f"[bold red]FORK ALARM[/] {e}")
        return 1
    finally:
        witnessed = consumer.witnessed()
        consumer.close()
    status(progress, final=True)
    for origin, state in witnessed.items():
        console.print(f"checkpoints of {origin}: {state['tree_size']:,} leaves witnessed"
                      + (f" — [bold red]FORK ALARM[/] {state['alarm']}" if state["alarm"]
                         else ", each extending the one before"))
    return 0
