"""Keeping the lane clean, as standing orders: the auditor's hygiene, the tracker's triage and
the coordinator's weekly bets review. Every change is a review row through `triage`, with the
reason in its notes; a run that finds nothing to do is `no_work`."""

from datetime import timedelta

from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import Lower, Trim

from missions.models import start_of_today
from opportunities.actions import DecisionRefused, triage
from opportunities.calibration import recalibrate_scouts, weighted_score
from opportunities.models import Idea, Opportunity, ScoutWeight
from opscore.actions import record_cap_hit
from opscore.db import db_now
from opscore.models import RunStatus
from opscore.standing_orders import RunResult

STALE_DAYS = 7
LOW_CONFIDENCE_DAYS = 3
OPEN = ["new", "triaged", "accepted"]
WINDOW = 500  # findings one hygiene run applies: more wait for the next, and the cap says so
TRIAGE_BATCH = 100
REVIEW_BATCH = 300  # the weekly bets review's strongest open opportunities a run


def apply(found: list[tuple], reviewer: str) -> list[str]:
    """(opportunity, decision, why) → review rows; what could not be applied says why."""
    done = []
    for opportunity, decision, why in found:
        try:
            triage(opportunity, decision, reviewer=reviewer, notes=why)
            done.append(f"O{opportunity.id} {decision}: {why}")
        except DecisionRefused as refused:
            done.append(f"O{opportunity.id} left alone: {refused}")
    return done


def with_first_twin(rows):
    """Each open opportunity with the id of the oldest open one its scout gave the same title
    (case and surrounding spaces aside): its own id when it is the first."""
    key = Lower(Trim("title"))
    twins = Opportunity.objects.filter(status__in=OPEN, source_agent=OuterRef("source_agent"))
    first = twins.annotate(key=key).filter(key=OuterRef("key")).order_by("id").values("id")[:1]
    return rows.annotate(key=key).annotate(first_twin=Subquery(first))


def hygiene_findings(now) -> tuple[list[tuple], int]:
    """The oldest WINDOW findings among all open opportunities (the database finds them: the
    oldest 500 rows read in Python hid a duplicate or a stale one behind them, and the run
    said the lane was clean), and how many more wait for the next run."""
    stale = Q(status="new", created_at__lt=now - timedelta(days=STALE_DAYS))
    weak = Q(confidence__lte=2, created_at__lt=now - timedelta(days=LOW_CONFIDENCE_DAYS))
    rows = with_first_twin(Opportunity.objects.filter(status__in=OPEN))
    flagged = rows.filter(Q(first_twin__lt=F("id")) | stale | weak).order_by("id")
    found = [finding(o, now) for o in flagged[:WINDOW]]
    waiting = flagged.count() - len(found) if len(found) == WINDOW else 0
    return found, waiting


def finding(o: Opportunity, now) -> tuple:
    if o.first_twin < o.id:
        return (o, "rejected", f"duplicate of O{o.first_twin}")
    if o.status == "new" and o.created_at < now - timedelta(days=STALE_DAYS):
        return (o, "parked", f"stale: untouched for {STALE_DAYS} days")
    return (o, "parked", f"confidence {o.confidence} for {LOW_CONFIDENCE_DAYS} days")


def budget_pressure() -> dict[str, int]:
    """Scouts whose opportunities were kept as ideas today: they are asking for too much."""
    kept = Idea.objects.filter(created_at__gte=start_of_today()).exclude(kept_because="")
    rows = kept.values("source_agent").annotate(n=Count("id")).order_by("source_agent")
    return {row["source_agent"]: row["n"] for row in rows}


def opportunity_hygiene(order, run):
    found, waiting = hygiene_findings(db_now())
    if waiting:
        record_cap_hit("opportunity_hygiene", WINDOW, waiting, actor=f"agent:{order.agent_id}")
    pressure = budget_pressure()
    if not found and not pressure:
        return RunResult(RunStatus.NO_WORK, "the lane is clean: nothing to flag")
    done = apply(found, f"agent:{order.agent_id}")
    evidence = {"changes": done, "over_budget_today": pressure}
    summary = f"{len(done)} flagged; over budget today: {pressure or 'nobody'}"
    return RunResult(RunStatus.COMPLETED, summary[:500], evidence)


def opportunity_triage(order, run, limit: int = TRIAGE_BATCH):
    """New ones get grouped by theme and an owner candidate; each becomes `triaged`. At most
    `limit` a run, oldest first: each triaged is new no longer, so the next run takes the rest,
    and a run cut short says how many wait (its evidence, a `sweep.capped` row)."""
    new = Opportunity.objects.filter(status="new")
    batch = list(new.order_by("id")[: limit + 1])
    fresh = batch[:limit]
    if not fresh:
        return RunResult(RunStatus.NO_WORK, "no new opportunity to triage")
    by_theme: dict[str, int] = {}
    for o in fresh:
        by_theme[o.theme] = by_theme.get(o.theme, 0) + 1
    found = []
    for o in fresh:
        if o.owner_candidate_id is None:
            Opportunity.objects.filter(pk=o.pk).update(owner_candidate=o.source_agent_id)
        found.append((o, "triaged", f"theme {o.theme}: {by_theme[o.theme]} new this round"))
    tracker = f"agent:{order.agent_id}"
    evidence = {"changes": apply(found, tracker)}
    if len(batch) > limit:
        evidence["deferred"] = new.count()  # those triaged are new no longer
        record_cap_hit("opportunity_triage", limit, evidence["deferred"], actor=tracker)
    return RunResult(RunStatus.COMPLETED, f"triaged {len(evidence['changes'])}", evidence)


def weekly_bets_review(order, run, top: int = 5, weak: float = 9.0, limit: int = REVIEW_BATCH):
    """The week's top bets are accepted, weak ones rejected, the rest parked. Ranked by score
    times the scout's calibrated weight, recalibrated first (opportunities.calibration). At
    most `limit` strongest a run: each reviewed is open no longer, so the next takes the rest,
    and a run cut short says how many wait (its evidence, a `sweep.capped` row)."""
    recalibrate_scouts(actor=f"agent:{order.agent_id}")
    weights = ScoutWeight.objects.current()
    open_ones = Opportunity.objects.filter(status__in=["new", "triaged"])
    candidates = list(open_ones.strongest(weights)[: limit + 1])
    ranked = sorted(
        ((weighted_score(o, weights), o) for o in candidates[:limit]), key=lambda p: -p[0]
    )
    if not ranked:
        return RunResult(RunStatus.NO_WORK, "no open opportunity to review")
    found = []
    for rank, (score, o) in enumerate(ranked):
        why = f"score {o.score} x scout weight {weights.get(o.source_agent_id, 1.0)} = {score}"
        if rank < top and score >= weak:
            found.append((o, "accepted", f"a top-{top} bet this week ({why})"))
        elif score < weak:
            found.append((o, "rejected", f"weak: {why} < {weak}"))
        else:
            found.append((o, "parked", f"not a top-{top} bet this week ({why})"))
    done = apply(found, f"agent:{order.agent_id}")
    if len(candidates) <= limit:
        return RunResult(RunStatus.COMPLETED, f"reviewed {len(done)}", {"changes": done})
    waiting = open_ones.count()  # those reviewed are open no longer
    record_cap_hit("weekly_bets_review", limit, waiting, actor=f"agent:{order.agent_id}")
    evidence = {"changes": done, "deferred": waiting}
    return RunResult(RunStatus.COMPLETED, f"reviewed {len(done)}; {waiting} wait", evidence)


HANDLERS = {
    "opportunity_hygiene": opportunity_hygiene,
    "opportunity_triage": opportunity_triage,
    "weekly_bets_review": weekly_bets_review,
}
