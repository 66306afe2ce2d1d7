"""Trigger + reaction duty cost: 1,000 rules, 50 agents, at 10k and at 1M events in the table.

    .venv/bin/python bench/loop.py [--rules 1000] [--big 1000000]

One heartbeat must stay inside its budgets (triggers 4 s, reactions 3 s), and the cost must grow
with the number of rules, not with the number of events: it prints both timings and their ratio.
"""

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import django_ready, setup_bench_database

TRIGGER_BUDGET, REACTION_BUDGET = 4.0, 3.0


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
            action_config={"target_agent": f"agent-{n % 50}"},
            topics=["a", "b", "c"],
        )
        for n in range(rules)
    )
    set_policy("reaction_matrix", {"patterns": PATTERNS}, actor="bench")


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
    with transaction.atomic():
        start = time.perf_counter()
        triggers = loop.evaluate_triggers(time.monotonic() + TRIGGER_BUDGET, rand)
        trigger_seconds = time.perf_counter() - start
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
            f"  {label:>16}: triggers {t * 1000:7.1f} ms (budget {TRIGGER_BUDGET * 1000:.0f}) "
            f"{counts}; reactions {r * 1000:7.1f} ms (budget {REACTION_BUDGET * 1000:.0f}) "
            f"{reactions}"
        )
    print(
        f"  ratio {args.big:,} / 10k events: triggers {large[0] / small[0]:.2f}, "
        f"reactions {large[1] / small[1]:.2f} (cost follows rules, not events: ≈ 1)"
    )


if __name__ == "__main__":
    main()
