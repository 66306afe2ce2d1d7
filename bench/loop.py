"""Trigger + reaction duty cost: 1,000 rules, 50 agents, at 10k and at 1M events in the table.

    .venv/bin/python bench/loop.py [--rules 1000] [--big 1000000]

One heartbeat must stay inside its budgets (triggers 4 s, reactions 3 s; the goal is every rule
evaluated in 1 s), and the cost must grow with the number of rules, not with the number of events:
it prints both timings and their ratio, the rules evaluated and deferred, the queries a pass sent,
and a baseline from the same run: raw SQL reading what the checkers read, one statement a rule
(what a pass cost per rule before the checkers read once for all their rules).
"""

import argparse
import os
import random
import sys
import time
from itertools import product
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import django_ready, setup_bench_database

TRIGGER_BUDGET, REACTION_BUDGET, TRIGGER_GOAL = 4.0, 3.0, 1.0
CHECKER_READS = {
    "mission_failed": "SELECT * FROM opscore_event WHERE kind = 'mission.failed' AND id > %s "
    "ORDER BY id DESC LIMIT 1",
    "insight_promoted": "SELECT * FROM opscore_event WHERE kind = 'insight.promoted' AND id > %s "
    "ORDER BY id DESC LIMIT 1",
    "content_published": "SELECT * FROM missions_publication WHERE status = 'published' "
    "ORDER BY id DESC LIMIT 1",
    "tweet_high_engagement": "SELECT * FROM missions_contentmetric WHERE engagement_rate >= 0.05 "
    "ORDER BY engagement_rate DESC LIMIT 1",
}


def add_events(count: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO opscore_event (kind, title, summary, tags, payload, actor, created_at)
               SELECT (ARRAY['step.succeeded','mission.succeeded','policy.changed',
                             'proposal.accepted'])[1 + g %% 4],
                      'bench event ' || g, '', ARRAY['bench', 'filler'], '{}', 'bench',
                      statement_timestamp()
               FROM generate_series(1, %s) g""",
            [count],
        )
        cursor.execute("ANALYZE opscore_event")


PATTERNS = [
    {
        "source": "*",
        "tags": ["mission_failed"],
        "target": "agent-1",
        "type": "diagnose",
        "probability": 1.0,
        "cooldown": 0,
    },
    {
        "source": "*",
        "tags": ["bench", "hot"],
        "target": "agent-2",
        "type": "analyze",
        "probability": 0.3,
        "cooldown": 60,
    },
]


WORK = [list(kinds) for size in (1, 2, 3) for kinds in product(("analyze", "noop"), repeat=size)]


def distinct_work(n: int) -> dict:
    """Rule n's agent and step kinds. Rules answering the same event for the same agent with
    the same work propose it once (the second is a recorded skip), so every rule asks for
    different work: the pass then pays for every rule that fires, which is what it measures."""
    return {"target_agent": f"agent-{n // 4 % 50}", "step_kinds": WORK[n // 200 % len(WORK)]}


def make_world(rules: int) -> None:
    from missions.models import TriggerRule
    from opscore.actions import set_policy
    from opscore.models import Agent

    Agent.objects.bulk_create(
        Agent(
            slug=f"agent-{n}",
            display_name=f"Agent {n}",
            role="bench",
            enabled=True,
            daily_proposal_limit=100_000,
        )
        for n in range(50)
    )
    kinds = ["mission_failed", "insight_promoted", "content_published", "tweet_high_engagement"]
    TriggerRule.objects.bulk_create(
        TriggerRule(
            name=f"rule-{n}",
            trigger_event=kinds[n % 4] if n % 10 < 7 else "proactive_research",
            proactive=n % 10 >= 7,
            cooldown_minutes=0 if n % 10 < 7 else 600,
            action_config=distinct_work(n),
            topics=["a", "b", "c"],
        )
        for n in range(rules)
    )
    set_policy("reaction_matrix", {"patterns": PATTERNS}, actor="bench")


def raw_checker_reads(rules: list) -> float:
    """Seconds for raw SQL to read, one statement per rule, what each reactive rule's checker
    reads (the baseline: no ORM, no batching)."""
    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        for trigger_event, cursor_id in rules:
            sql = CHECKER_READS[trigger_event]
            cursor.execute(sql, [cursor_id] if "%s" in sql else [])
            cursor.fetchall()
    return time.perf_counter() - start


def server_cpu_seconds() -> float | None:
    """CPU this connection's Postgres backend has used (its /proc entry), or None when the
    server is not on this machine. Client + server CPU is what a pass costs on an idle
    machine: waiting for a core on a busy one does not count."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counting(counter: list):
    def wrapper(execute, sql, params, many, context):
        counter.append(1)
        return execute(sql, params, many, context)

    return wrapper


def one_beat() -> tuple[float, float, dict, dict]:
    """Rules whose checkers look at events read only past their cursor; reactions read one
    batch past theirs. Five new failures arrive before each beat."""
    from django.db import connection, transaction

    from missions import loop
    from missions.models import LoopCursor, TriggerRule
    from opscore.models import Event

    latest = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    TriggerRule.objects.update(last_seen_event_id=latest, last_fired_at=None)
    TriggerRule.objects.filter(proactive=True).update(
        last_fired_at=Event.objects.order_by("-id").values_list("created_at", flat=True).first()
    )
    LoopCursor.objects.update_or_create(name="reactions", defaults={"position": latest})
    for n in range(5):
        Event.objects.create(
            kind="mission.failed",
            title=f"M{n} failed",
            tags=["mission", "failed", "mission_failed"],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    rand = random.Random(1)
    reactive = list(
        TriggerRule.objects.filter(proactive=False).values_list(
            "trigger_event", "last_seen_event_id"
        )
    )
    with transaction.atomic():
        baseline = raw_checker_reads(reactive)
    queries, server = [], server_cpu_seconds()
    with transaction.atomic(), connection.execute_wrapper(counting(queries)):
        start, client = time.perf_counter(), time.process_time()
        triggers = loop.evaluate_triggers(time.monotonic() + TRIGGER_BUDGET, rand)
        trigger_seconds = time.perf_counter() - start
        client = time.process_time() - client
    if server is not None:
        server = server_cpu_seconds() - server
    triggers |= {"queries": len(queries), "baseline": baseline, "cpu": (client, server)}
    with transaction.atomic():
        start = time.perf_counter()
        reactions = loop.match_reactions(rand) | loop.process_reactions(
            time.monotonic() + REACTION_BUDGET
        )
        reaction_seconds = time.perf_counter() - start
    return trigger_seconds, reaction_seconds, triggers, reactions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--big", type=int, default=1_000_000)
    args = parser.parse_args()
    setup_bench_database("opscore_bench_loop")
    django_ready(migrate=True)
    make_world(args.rules)
    add_events(10_000)
    small = one_beat()
    add_events(args.big - 10_000)
    large = one_beat()
    print(f"{args.rules} rules, 50 agents")
    for label, (t, r, triggers, reactions) in (
        ("10k events", small),
        (f"{args.big} events", large),
    ):
        counts = {k: triggers[k] for k in ("fired", "evaluated", "skipped", "deferred")}
        print(
            f"  {label:>16}: triggers {t * 1000:7.1f} ms (budget {TRIGGER_BUDGET * 1000:.0f}, "
            f"goal {TRIGGER_GOAL * 1000:.0f}) {counts}; reactions {r * 1000:7.1f} ms "
            f"(budget {REACTION_BUDGET * 1000:.0f}) {reactions}"
        )
        print(
            f"  {'':>16}  triggers: {triggers['evaluated'] + triggers['fired']} rules evaluated "
            f"({triggers['fired']} fired), {triggers['deferred']} deferred, in "
            f"{triggers['queries']} queries; raw per-rule checker reads "
            f"{triggers['baseline'] * 1000:.1f} ms, pass / raw reads "
            f"{t / triggers['baseline']:.2f}"
        )
        client, server = triggers["cpu"]
        on_server = f" + server {server * 1000:.0f} ms" if server is not None else ""
        print(f"  {'':>16}  triggers CPU: client {client * 1000:.0f} ms{on_server}")
    print(
        f"  ratio {args.big:,} / 10k events: triggers {large[0] / small[0]:.2f}, "
        f"reactions {large[1] / small[1]:.2f} (cost follows rules, not events: ≈ 1)"
    )


if __name__ == "__main__":
    main()
