"""Render the Stage feed with 100,000 events in the table: server time and DOM rows sent.

    .venv/bin/python bench/stage_feed.py [--events 100000]

Prints the time for the first page and for a deep "older" page, beside a baseline that renders
an empty table in the same run, and the number of rows each sends (bounded by the page size).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import django_ready, setup_bench_database


def timed_get(client, url: str, runs: int = 5) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
        rows = response.content.count(b'class="event ')
    return statistics.median(times), rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    setup_bench_database("opscore_bench_stage")
    django_ready(migrate=True)
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    client = Client()
    empty_ms, _ = timed_get(client, "/stage/")
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO opscore_event (kind, title, summary, tags, payload, actor, created_at)
               SELECT 'bench.event', 'event ' || g, '', ARRAY['bench'], '{}', 'bench',
                      statement_timestamp() FROM generate_series(1, %s) g""",
            [args.events],
        )
        cursor.execute("ANALYZE opscore_event")
        cursor.execute("SELECT max(id) FROM opscore_event")
        newest = cursor.fetchone()[0]
    full_ms, full_rows = timed_get(client, "/stage/")
    deep_ms, deep_rows = timed_get(client, f"/stage/events?before={newest - args.events // 2}")
    tag_ms, tag_rows = timed_get(client, "/stage/?tag=bench")
    print(f"Stage feed with {args.events} events (median of 5 requests):")
    print(f"  empty table     {empty_ms:7.1f} ms")
    print(
        f"  first page      {full_ms:7.1f} ms, {full_rows} rows sent "
        f"(ratio to empty {full_ms / empty_ms:.2f})"
    )
    print(f"  older page      {deep_ms:7.1f} ms, {deep_rows} rows sent (cursor halfway back)")
    print(f"  filtered by tag {tag_ms:7.1f} ms, {tag_rows} rows sent")


if __name__ == "__main__":
    main()
