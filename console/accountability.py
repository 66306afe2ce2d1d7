"""The accountability digest: per agent, a day of rows — standing-order runs by status, steps,
opportunities proposed and accepted, memories promoted, LLM spend. No LLM prose: numbers a
person can check against the admin."""

from collections import defaultdict

from django.db.models import Count, Sum

from memory.models import Memory
from missions.models import Step
from missions.provenance import step_untrusted
from opportunities.models import NoticeLane, Opportunity
from opportunities.notices import notify
from opscore.models import Agent, LLMCall, StandingOrderRun

RUN_STATES = ["completed", "no_work", "missed", "failed", "blocked"]


def day_rows(since) -> dict[str, dict]:
    rows: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    runs = StandingOrderRun.objects.filter(scheduled_for__gte=since)
    for r in runs.values("order__agent", "status").annotate(n=Count("id")).order_by():
        rows[r["order__agent"]][r["status"]] += r["n"]
    steps = Step.objects.filter(finished_at__gte=since).values("agent").annotate(n=Count("id"))
    for r in steps.order_by():
        rows[r["agent"]]["steps"] = r["n"]
    made = Opportunity.objects.filter(created_at__gte=since).values("source_agent", "status")
    for r in made.annotate(n=Count("id")).order_by():
        rows[r["source_agent"]]["opportunities"] += r["n"]
        if r["status"] in ("accepted", "converted"):
            rows[r["source_agent"]]["accepted"] += r["n"]
    memories = Memory.objects.filter(created_at__gte=since).values("agent").annotate(n=Count("id"))
    for r in memories.order_by():
        rows[r["agent"]]["memories"] = r["n"]
    spend = (
        LLMCall.objects.filter(created_at__gte=since).values("agent").annotate(usd=Sum("cost_usd"))
    )
    for r in spend.order_by():
        if r["agent"]:
            rows[r["agent"]]["usd"] = float(r["usd"] or 0)
    return rows


def line_for(slug: str, row: dict) -> str:
    runs = ", ".join(f"{state} {row.get(state, 0)}" for state in RUN_STATES)
    return (
        f"- {slug}: runs {runs}; steps {row.get('steps', 0)}; opportunities "
        f"{row.get('opportunities', 0)} (accepted {row.get('accepted', 0)}); memories "
        f"{row.get('memories', 0)}; spend ${row.get('usd', 0):.4f}"
    )


def accountability_digest(since, day: str, run=None):
    rows = day_rows(since)
    agents = [a.slug for a in Agent.objects.enabled()]
    lines = [line_for(slug, rows.get(slug, {})) for slug in agents]
    return notify(
        NoticeLane.ACCOUNTABILITY,
        f"Accountability {day}: {len(agents)} agents",
        "\n".join(lines),
        dedupe_key=f"accountability:{day}",
        run=run,
    )


BLOCKED_TOO_LONG_HOURS = 1


def risk_alerts(day: str) -> list[int]:
    """Alerts a person needs now, at most one of each a day: work that died (retries spent) and
    work blocked for over an hour (a stuck critical path). Nothing to say is no alert."""
    from datetime import timedelta

    from missions.models import StepStatus
    from opscore.db import db_now

    found = []
    dead = Step.objects.filter(
        status=StepStatus.DEAD, finished_at__gte=db_now() - timedelta(days=1)
    )
    if dead.exists():
        kinds = sorted(set(dead.values_list("kind", flat=True)))
        body = f"{dead.count()} step(s) died today ({', '.join(kinds)}): see the dead letters."
        alert = notify(NoticeLane.ALERT, "Work died", body, dedupe_key=f"alert:dead:{day}")
        found.append(alert.id)
    stuck = Step.objects.filter(
        status=StepStatus.BLOCKED,
        updated_at__lt=db_now() - timedelta(hours=BLOCKED_TOO_LONG_HOURS),
    )
    if stuck.exists():
        reasons = "; ".join(stuck_line(step) for step in stuck.order_by("id")[:5])
        body = f"{stuck.count()} step(s) blocked for over an hour: {reasons}"
        found.append(
            notify(NoticeLane.ALERT, "Work is stuck", body, dedupe_key=f"alert:blocked:{day}").id
        )
    return found


def stuck_line(step) -> str:
    """A blocked step and its reason, which an outside runtime's block-job wrote in its own
    words: those are marked, as an untrusted opportunity's alert is, never said in ours."""
    line = f"S{step.id}: {step.blocked_reason[:80]}"
    why = step_untrusted(step.id)
    return f"{line} (untrusted: {why}; its words are not Opscore's)" if why else line
