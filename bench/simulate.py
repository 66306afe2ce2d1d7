"""The policy simulator on a busy week: 50k proposals over 7 days (ten agents; drafts, tweets,
analyses; auto-approved, waiting for and approved by a human, refused at the gate), replayed
against a stricter content_policy, beside a raw SQL scan that reads the same rows and judges
nothing (the floor: the simulator cannot be faster than reading what it replays).

    .venv/bin/python bench/simulate.py [--proposals 50000]

Target (issue 33): 50k proposals over 7 days simulated in under 60 s.
"""

import argparse
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Timer, django_ready, setup_bench_database

AGENTS = [f"agent-{n}" for n in range(10)]
MIXES = [["write_content"], ["analyze"], ["post_tweet"], ["write_content", "analyze"]]
RAW = """
SELECT id, created_at, decided_at, decided_by, status, rejection_code, reason, proposed_steps,
       untrusted, needs_human, source, agent_id, title, cause_ref
FROM missions_proposal WHERE created_at >= %s ORDER BY created_at, id
"""


def spec(kind: str) -> dict:
    return {"kind": kind, "payload": {}, "agent": None, "priority": 100, "max_attempts": 3}


def seed(total: int, rand: random.Random) -> None:
    """Rows as the intake leaves them, written in bulk (the intake itself would take hours)."""
    from missions.models import Mission, Proposal, Step
    from opscore.db import db_now
    from opscore.models import Agent

    for slug in AGENTS:
        Agent.objects.create(slug=slug, display_name=slug, role="bench")
    now, week = db_now(), timedelta(days=7).total_seconds()
    stamps = sorted(now - timedelta(seconds=rand.uniform(60, week - 3600)) for _ in range(total))
    for start in range(0, total, 5000):
        rows = [proposal(at, rand, Proposal) for at in stamps[start : start + 5000]]
        Proposal.objects.bulk_create(rows)
        ran = [p for p in rows if p.status == "accepted"]
        missions = Mission.objects.bulk_create(
            Mission(title=p.title, agent_id=p.agent_id, created_by="bench", proposal=p) for p in ran
        )
        Step.objects.bulk_create(
            Step(mission=m, kind=s["kind"], agent_id=p.agent_id, created_at=p.decided_at)
            for m, p in zip(missions, ran, strict=True)
            for s in p.proposed_steps
        )


def proposal(at, rand: random.Random, Proposal):
    kinds = rand.choice(MIXES)
    row = Proposal(
        agent_id=rand.choice(AGENTS),
        title=f"{'+'.join(kinds)} at {at:%a %H:%M}",
        source=rand.choice(["api", "trigger", "reaction"]),
        proposed_steps=[spec(k) for k in kinds],
        created_at=at,
        status="accepted",
        decided_at=at,
        decided_by="system:auto_approve",
    )
    if "post_tweet" in kinds:  # not auto-approvable: a human approves most, minutes later
        row.decided_at, row.decided_by = at + timedelta(minutes=rand.randint(1, 90)), "op"
        row.status = "accepted" if rand.random() < 0.8 else "pending"
    elif rand.random() < 0.05:
        row.status, row.rejection_code, row.decided_by = "rejected", "cap_gate", "system:intake"
        row.reason = "write_content: quota full (8/8)"
    return row


def raw_scan(since) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(RAW, [since])
        count = 0
        while batch := cursor.fetchmany(2000):
            count += len(batch)
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--proposals", type=int, default=50_000)
    args = parser.parse_args()
    setup_bench_database("opscore_bench_simulate")
    django_ready(migrate=True)
    from missions.simulation_report import simulate_policy
    from opscore.db import db_now

    with Timer() as seeding:
        seed(args.proposals, random.Random(33))
    print(f"seeded {args.proposals} proposals over 7 days in {seeding.seconds:.1f} s")
    with Timer() as scan:
        scanned = raw_scan(db_now() - timedelta(days=7))
    value = {"enabled": True, "max_drafts_per_day": 3000}
    began = time.perf_counter()
    report = simulate_policy("content_policy", value, deadline_seconds=600)
    seconds = time.perf_counter() - began
    print(f"raw SQL scan of the same {scanned} rows: {scan.seconds:.2f} s")
    print(
        f"simulate-policy content_policy: {seconds:.2f} s for {report['proposals']['replayed']} "
        f"proposals ({report['proposals']['changed']} decided differently, "
        f"{report['steps_switched_off']['count']} steps switched off); "
        f"{seconds / max(scan.seconds, 1e-9):.1f}x the raw scan; goal < 60 s: "
        f"{'met' if seconds < 60 and report['complete'] else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
