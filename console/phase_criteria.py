"""The seed's exit criteria that need more than a count: every agent with evidence, the
digests readable and not spammy, memories in three roles, an idle idea, the vault matching the
database, and each phase held for its time (48 h; the final phase two weeks) without a failure.

Each is a `Criterion` read from rows; `console.phases` composes them per phase.
"""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Count
from django.db.models.functions import TruncDate

from console.roster import installed_roster, load_roster
from memory.models import Memory
from missions.models import Artifact
from opportunities.models import Idea, Notice, NoticeLane
from opscore.db import db_now
from opscore.models import Agent, Event, Policy, RunStatus, StandingOrder, StandingOrderRun
from opscore.standing_orders import unrun_slots

HOLD_HOURS = {1: 48, 2: 48, 3: 48, 4: 48, 5: 14 * 24}  # the seed: 48-72 h; two weeks at the end
READABLE_LINES = 40
NOTICES_PER_DAY = 5


@dataclass(frozen=True)
class Criterion:
    name: str
    passed: bool
    detail: str
    how: str = ""  # what an operator does to make it pass


def criterion(name: str, passed: bool, detail: str, how: str = "") -> Criterion:
    return Criterion(name, passed, detail, "" if passed else how)


def phase_applied_at(phase: int):
    first = Event.objects.filter(kind="bootstrap.phase_applied", tags__contains=[f"phase-{phase}"])
    row = first.order_by("id").first()
    return row.created_at if row else None


def held_for(phase: int):
    """The phase has run its hold time, and no standing-order run failed in that window, nor
    was a slot missed (nothing ran it: the system was down, which is no hold). A slot with no
    row at all is missed too: the gap check that records them runs only while the system does."""
    hours = HOLD_HOURS[phase]
    span = f"{hours} h" if hours < 100 else f"{hours // 24} days"
    name = f"phase {phase} held {span} without a failed run"
    applied, now = phase_applied_at(phase), db_now()
    if applied is None:
        return criterion(
            name, False, f"phase {phase} was never applied", f"bootstrap phase {phase}"
        )
    until, since = applied + timedelta(hours=hours), max(applied, now - timedelta(hours=hours))
    runs = StandingOrderRun.objects
    failed = runs.filter(status=RunStatus.FAILED, finished_at__gte=since).count()
    missed = runs.filter(status=RunStatus.MISSED, scheduled_for__gte=since).count()
    missed += sum(
        len(unrun_slots(o, since, now)) for o in StandingOrder.objects.filter(enabled=True)
    )
    detail = f"applied {applied:%Y-%m-%d %H:%M} UTC; {failed} failed run(s) in the window"
    detail += f", {missed} slot(s) missed" if missed else ""
    if until > now:
        how = f"keep it running (the supervisor keeps workers up) until {until:%Y-%m-%d %H:%M} UTC"
        return criterion(name, False, detail, how)
    how = (
        "open Standing order runs (status failed or missed) in the admin; the summary says why"
        " (missed: nothing was running, keep `make run` up)"
    )
    return criterion(name, failed == missed == 0, detail, how)


def every_agent_has_evidence():
    """The seed's phase-2 exit: all ten agents active, each with completed/no_work evidence."""
    roster = len(load_roster(installed_roster()).agents)
    enabled = set(Agent.objects.filter(enabled=True).values_list("slug", flat=True))
    proved = set(
        StandingOrderRun.objects.filter(status__in=[RunStatus.COMPLETED, RunStatus.NO_WORK])
        .values_list("order__agent_id", flat=True)
        .distinct()
    )
    silent = sorted(enabled - proved)
    passed = len(enabled) >= roster and not silent
    detail = f"{len(enabled)}/{roster} agent(s) enabled; without evidence: {silent or 'none'}"
    how = "run each silent agent's orders (`.venv/bin/opscore run_order NAME`) or wait a slot"
    return criterion("every agent active with standing-order evidence", passed, detail, how)


def digest_readable():
    digest = Artifact.objects.filter(kind="digest").order_by("-id").first()
    if digest is None:
        how = "run the publisher's digest: `.venv/bin/opscore run_order publisher-daily-digest`"
        return criterion("the daily digest is readable", False, "no digest yet", how)
    lines = len(digest.body.splitlines())
    detail = f"latest digest {digest.id}: {lines} line(s)"
    how = f"a digest of more than {READABLE_LINES} lines is not read; trim what it lists"
    return criterion("the daily digest is readable", lines <= READABLE_LINES, detail, how)


def digests_not_spammy():
    """An ideas digest went out, and no day had more than a handful of notices."""
    since = db_now() - timedelta(hours=48)
    sent = Notice.objects.filter(lane=NoticeLane.DIGEST).exists()
    per_day = (
        Notice.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
    )
    loudest = max((row["n"] for row in per_day), default=0)
    detail = f"ideas digest sent: {'yes' if sent else 'no'}; most notices in a day: {loudest}"
    how = (
        "run `.venv/bin/opscore run_order publisher-opportunity-digest`"
        if not sent
        else f"more than {NOTICES_PER_DAY} notices a day: raise the bar in opportunity_policy"
    )
    passed = sent and loudest <= NOTICES_PER_DAY
    return criterion("the ideas digest is readable, not spammy", passed, detail, how)


def memories_in_three_roles():
    roles = set(Memory.objects.active().values_list("agent_id", flat=True))
    detail = f"{len(roles)} role(s) with promoted memories: {', '.join(sorted(roles)) or 'none'}"
    how = "let the memory orders run in more roles, then the promotion gate"
    return criterion("promoted memories in three roles", len(roles) >= 3, detail, how)


def idle_idea_surfaced():
    ideas = Idea.objects.filter(tags__contains=["idle"])
    count = ideas.count()
    how = "let an idle window run (`.venv/bin/opscore run_order devops-idle-cognition`)"
    return criterion("an idle idea surfaced", count > 0, f"{count} idle idea(s)", how)


def idle_under_budget():
    cap = Policy.objects.value("opportunity_policy").idle_max_ideas_per_day
    per_day = (
        Idea.objects.filter(tags__contains=["idle"])
        .annotate(day=TruncDate("created_at"))
        .values("source_agent", "day")
        .annotate(n=Count("id"))
    )
    over = sorted({row["source_agent"] for row in per_day if row["n"] > cap})
    detail = f"over {cap} idle ideas a day: {', '.join(over) or 'nobody'}"
    how = "lower opportunity_policy.idle_max_ideas_per_day or pause the idle lane"
    return criterion("idle cognition stays under budget", not over, detail, how)


def vault_matches_database(root: Path | None = None):
    """Every exported row's file holds what the database says now (the snapshot aside)."""
    from console.vault import agent_documents, documents

    root = Path(root or settings.OPS_VAULT_ROOT)
    stale = [
        f"{doc.folder}/{doc.name}"
        for doc in [*documents(), *agent_documents()]
        if not (root / doc.folder / doc.name).is_file()
        or (root / doc.folder / doc.name).read_text() != doc.text()
    ]
    detail = f"{len(stale)} file(s) differ from the database" + (f": {stale[0]}" if stale else "")
    how = "export the vault: `.venv/bin/opscore export_vault` (edited files are kept beside)"
    return criterion("the vault matches the database", not stale, detail, how)
