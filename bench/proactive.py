"""The proactive lane under load: 30 simulated days of six scouts on generated evidence, and
the evidence packet's build time at 10k vs 1M events.

    .venv/bin/python bench/proactive.py [--days 30] [--big 1000000]

Prints opportunities per scout per day (the budget says ≤ 3, every day), duplicates created
(open twins: must be 0) and refused, kept-as-idea counts, digest size, and the packet build
time with 10k and with `--big` events in the table (ratio target ≤ 1.5: the cost follows the
recent window, not the table).
"""

import argparse
import statistics
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import django_ready, setup_bench_database

SCOUTS = ["knowledge", "devops", "product-metrics", "design", "security", "research"]
KINDS = ["crawl", "deploy", "analyze", "write_content", "post_tweet"]


def add_events(total: int, days: int, failing_share: float, ending_days_ago: float = 0) -> None:
    """`total` events spread over `days` up to `ending_days_ago`, some of them failures."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO opscore_event (kind, title, summary, tags, payload, actor, created_at)
               SELECT CASE WHEN random() < %s THEN 'step.failed' ELSE 'bench.noise' END,
                      'S' || g || ' work', 'timeout',
                      ARRAY['step', 'failed', (%s::text[])[1 + g %% 5]], '{}', 'bench',
                      statement_timestamp() - make_interval(secs => (%s - g) * %s + %s)
               FROM generate_series(1, %s) g""",
            [failing_share, KINDS, total, days * 86400 / total, ending_days_ago * 86400, total],
        )
        cursor.execute("ANALYZE opscore_event")


def packet_ms(runs: int = 20) -> float:
    from opportunities.packets import evidence_packet
    from opscore.db import db_now

    since = db_now() - timedelta(hours=24)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        evidence_packet("devops", since)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


DAY_ENDS = [
    # The event log is append-only by trigger; this throwaway database lets days pass.
    "ALTER TABLE opscore_event DISABLE TRIGGER USER",
    "UPDATE opscore_event SET created_at = created_at - interval '1 day'",
    "UPDATE opportunities_opportunity SET created_at = created_at - interval '1 day'",
    "UPDATE opportunities_idea SET created_at = created_at - interval '1 day'",
    """UPDATE opportunities_notice
       SET created_at = created_at - interval '1 day', dedupe_key = dedupe_key || ':' || id""",
    "UPDATE opscore_standingorderrun SET scheduled_for = scheduled_for - interval '1 day'",
    "ALTER TABLE opscore_event ENABLE TRIGGER USER",
]


def end_the_day() -> None:
    """Every row moves a day into the past: the next simulated day's budgets start fresh."""
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in DAY_ENDS:
            cursor.execute(statement)


def simulate(days: int) -> dict:
    """Each day: fresh failures, every scout scans, the digest is built; then the day ends
    (every row moves a day into the past, so the next day's budgets start fresh)."""
    from django.db.models import Count

    from opportunities.models import Idea, Notice, Opportunity
    from opscore.db import db_now
    from opscore.models import StandingOrder
    from opscore.standing_orders import execute_run, start_run

    per_day, refused, digest_lines = [], 0, []
    scans = list(StandingOrder.objects.filter(agent__in=SCOUTS, handler="opportunity_scan"))
    for _ in range(days):
        add_events(300, 1, 0.3)
        made = Counter()
        for order in scans:
            evidence = execute_run(start_run(order, db_now())).evidence or {}
            made[order.agent_id] += evidence.get("opportunities", 0)
            refused += len(evidence.get("refused", []))
        per_day.append(made)
        digest = StandingOrder.objects.get(name="publisher-opportunity-digest")
        execute_run(start_run(digest, db_now()))
        notice = Notice.objects.order_by("-id").first()
        digest_lines.append(notice.body.count("\n") + 1 if notice else 0)
        end_the_day()
    open_ones = Opportunity.objects.filter(status__in=["new", "triaged", "accepted", "parked"])
    twins = open_ones.values("source_agent", "title").annotate(n=Count("id")).filter(n__gt=1)
    worst = max((max(day.values(), default=0) for day in per_day), default=0)
    return {
        "worst_day": worst,
        "total": Opportunity.objects.count(),
        "kept_as_ideas": Idea.objects.exclude(kept_because="").count(),
        "open_twins": twins.count(),
        "refused": refused,
        "digest_lines_max": max(digest_lines, default=0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--big", type=int, default=1_000_000)
    args = parser.parse_args()
    setup_bench_database("opscore_bench_proactive")
    django_ready(migrate=True)
    from console.bootstrap import bootstrap

    bootstrap(1, actor="bench")
    bootstrap(3, actor="bench", force=True)
    result = simulate(args.days)
    print(f"Proactive lane, {args.days} simulated days, {len(SCOUTS)} scouts:")
    print(
        f"  opportunities: {result['total']} in all, worst scout-day {result['worst_day']} "
        f"(budget 3); kept as ideas {result['kept_as_ideas']}; open duplicates "
        f"{result['open_twins']} (refused {result['refused']}); digest at most "
        f"{result['digest_lines_max']} lines"
    )
    add_events(3_000, 1, 0.02)  # the recent window stays the same size; the history grows
    add_events(10_000, 30, 0.02, ending_days_ago=1.1)
    small = packet_ms()
    add_events(args.big - 10_000, 30, 0.02, ending_days_ago=1.1)
    big = packet_ms()
    print(
        f"  evidence packet (a day of 3k events): {small:.2f} ms over ~10k older events, "
        f"{big:.2f} ms over {args.big:,} "
        f"(ratio {big / small:.2f}; target <= 1.5)"
    )


if __name__ == "__main__":
    main()
