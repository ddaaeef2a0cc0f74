"""Measure publish rates against a real broker (a script, not a test; run by hand).

    .venv/bin/python tests/integration/amqp/bench_publish_many.py [N]

Publishes N (default 40,000, a day's worth) ~200-byte commands over the three queues with
``publish_many`` at several confirm windows, and 2,000 with per-message ``publish`` for
comparison. Uses a throwaway ``bench.<uuid8>`` prefix and deletes it afterwards.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import pika

from infra.amqp import QUEUES, OutgoingMessage, Publisher, declare_topology, delete_topology

URL = os.getenv("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _messages(n: int) -> list[OutgoingMessage]:
    out = []
    for i in range(n):
        queue = QUEUES[i % len(QUEUES)]
        body = json.dumps(
            {"account_id": i, "window_start": "2026-11-26T00:00:00Z", "pad": "x" * 120}
        ).encode()
        out.append(OutgoingMessage(queue, body, f"{queue}:{i}:20261126", "SyncIt", {"n": i}))
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40_000
    prefix = f"bench.{uuid.uuid4().hex[:8]}"
    channel = pika.BlockingConnection(pika.URLParameters(URL)).channel()
    declare_topology(channel, prefix=prefix)
    items = _messages(n)
    try:
        with Publisher(URL, prefix=prefix) as publisher:
            single = items[:2000]
            started = time.perf_counter()
            for m in single:
                publisher.publish(m.queue, m.body, message_id=m.message_id, type=m.type)
            rate = len(single) / (time.perf_counter() - started)
            print(f"publish (one confirm per message): {rate:,.0f} msg/s over {len(single)}")
            for window in (100, 500, 1000, 2000, 5000):
                started = time.perf_counter()
                count = publisher.publish_many(items, window=window)
                rate = count / (time.perf_counter() - started)
                print(f"publish_many window={window:>5}: {rate:,.0f} msg/s over {count}")
                for q in QUEUES:
                    channel.queue_purge(f"{prefix}.{q}")
    finally:
        delete_topology(channel, prefix=prefix)
        channel.connection.close()


if __name__ == "__main__":
    main()
