"""The reference finance consumer's transport: plain kombu, no nameko.

It declares the `funding.events` exchange passively (the platform declares it, with
an alternate exchange; redeclaring it with other arguments would fail), binds its own
durable quorum queue to every funding event (`#`: the sequence numbers of a project
span all its events), and hands each message body to `FinanceBook.receive`, which
commits the consumer's state before the message is acknowledged. A message that
cannot be processed (say, the SQLite file is not writable) is requeued; the quorum
queue's delivery limit stops it from looping forever.

    python -m examples.finance_consumer.consumer --amqp-uri amqp://guest:guest@localhost:5672/ --db finance.sqlite3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
from pathlib import Path

from kombu import Connection, Exchange, Queue
from kombu.exceptions import OperationalError
from kombu.mixins import ConsumerMixin

from examples.finance_consumer.reconcile import DEFAULT_CONTRACT, EventContract, FinanceBook

log = logging.getLogger("finance_consumer")

EXCHANGE = "funding.events"
DEFAULT_QUEUE = "finance.funding-events"
DELIVERY_LIMIT = 20
RECONNECT_DELAY_S = 1.0


def finance_queue(name: str = DEFAULT_QUEUE, exchange: str = EXCHANGE) -> Queue:
    return Queue(
        name,
        exchange=Exchange(exchange, type="topic", durable=True, passive=True),
        routing_key="#",
        durable=True,
        queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT},
    )


class _Worker(ConsumerMixin):
    connect_max_retries = 2  # then back off in `run`, where `stop` is heard

    def __init__(self, connection: Connection, queue: Queue, db_path: Path, contract: EventContract, prefetch: int):
        self.connection, self.queue, self.db_path, self.contract, self.prefetch = (
            connection,
            queue,
            db_path,
            contract,
            prefetch,
        )
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.last_error: BaseException | None = None
        self.book: FinanceBook | None = None

    @property
    def should_stop(self) -> bool:
        return self.stopping.is_set()

    def get_consumers(self, Consumer, channel):
        return [Consumer(queues=[self.queue], on_message=self.on_message, prefetch_count=self.prefetch)]

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self.ready.set()

    def on_connection_error(self, exc, interval):
        self.last_error = exc
        log.warning("broker unreachable (%s); retrying in %.1fs", exc, interval)

    def on_message(self, message) -> None:
        try:
            receipt = self.book.receive(message.body)
        except Exception:
            log.exception("could not record a message; it goes back to the queue")
            message.requeue()
            return
        log.info(
            "%s %s%s", receipt.status, receipt.event_id, f": {'; '.join(receipt.errors)}" if receipt.errors else ""
        )
        message.ack()

    def run(self, _tokens=1, **kwargs) -> None:
        self.book = FinanceBook(self.db_path, self.contract)  # SQLite: opened in the consuming thread
        errors = (OperationalError, OSError) + self.connection.connection_errors + self.connection.channel_errors
        try:
            while not self.should_stop:
                try:
                    for _ in self.consume():
                        pass
                except errors as exc:
                    self.ready.clear()
                    self.last_error = exc
                    log.warning("consuming stopped (%s); reconnecting in %.1fs", exc, RECONNECT_DELAY_S)
                    self.stopping.wait(RECONNECT_DELAY_S)
        finally:
            self.ready.clear()
            self.book.close()


class FinanceConsumer:
    """Start it against an AMQP URI, read its reconciliation, stop it.

    >>> consumer = FinanceConsumer("amqp://guest:guest@localhost:5672/", "finance.sqlite3")
    >>> consumer.start()
    >>> consumer.reconciliation()
    >>> consumer.stop()
    """

    def __init__(
        self,
        amqp_uri: str,
        db_path: str | Path,
        *,
        queue: str = DEFAULT_QUEUE,
        exchange: str = EXCHANGE,
        contract_path: str | Path = DEFAULT_CONTRACT,
        prefetch: int = 16,
    ):
        self.amqp_uri = amqp_uri
        self.db_path = Path(db_path)
        self.queue = finance_queue(queue, exchange)
        self.contract = EventContract(contract_path)
        self.prefetch = prefetch
        self._worker: _Worker | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Consume in a background thread; returns once the queue is bound and consuming.
        Raises RuntimeError (naming the broker's last error, e.g. a missing exchange)
        when that takes longer than `timeout` seconds."""
        if self._thread is not None:
            raise RuntimeError("the finance consumer is running already")
        self._worker = _Worker(Connection(self.amqp_uri), self.queue, self.db_path, self.contract, self.prefetch)
        self._thread = threading.Thread(target=self._worker.run, name="finance-consumer", daemon=True)
        self._thread.start()
        if not self._worker.ready.wait(timeout):
            error = self._worker.last_error
            self.stop()
            raise RuntimeError(f"not consuming from {self.queue.exchange.name!r} after {timeout}s: {error!r}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop consuming (unacknowledged messages go back to the queue) and wait for the thread."""
        if self._thread is None:
            return
        self._worker.stopping.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"the finance consumer did not stop within {timeout}s")
        self._worker.connection.release()
        self._thread = self._worker = None

    def run(self) -> None:
        """Consume in this thread until interrupted."""
        self._worker = _Worker(Connection(self.amqp_uri), self.queue, self.db_path, self.contract, self.prefetch)
        try:
            self._worker.run()
        finally:
            self._worker.connection.release()
            self._worker = None

    def _read(self, what: str):
        book = FinanceBook(self.db_path, self.contract)
        try:
            return getattr(book, what)()
        finally:
            book.close()

    def reconciliation(self) -> dict[str, dict[str, dict[str, int]]]:
        """{project: {source: {allocated, released, withheld, clawed_back, scheduled, kept}}} (fen)."""
        return self._read("reconciliation")

    def discrepancies(self) -> list[str]:
        return self._read("discrepancies")

    def gaps(self) -> dict[str, dict]:
        return self._read("gaps")

    def shortfalls(self) -> dict[str, dict]:
        return self._read("shortfalls")

    def rejected(self) -> list[dict]:
        return self._read("rejected")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Reconcile Chuyi funding events per project and source.")
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@localhost:5672/"))
    parser.add_argument("--db", default="finance.sqlite3", help="the SQLite file of the consumer's state")
    parser.add_argument("--queue", default=DEFAULT_QUEUE, help="this consumer's own durable queue")
    parser.add_argument("--contract", default=str(DEFAULT_CONTRACT), help="the AsyncAPI document")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    consumer = FinanceConsumer(args.amqp_uri, args.db, queue=args.queue, contract_path=args.contract)
    try:
        consumer.run()
    except KeyboardInterrupt:
        pass
    print(
        json.dumps(
            {
                "reconciliation": consumer.reconciliation(),
                "gaps": consumer.gaps(),
                "discrepancies": consumer.discrepancies(),
            },
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
