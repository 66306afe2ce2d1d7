"""What the publisher sends the humans from the proactive lane: the daily ideas digest and the
weekly bets memo. Built from rows, short, each item with its evidence count and next step; an
empty one is `no_work`, never an empty message."""

from collections import defaultdict
from datetime import timedelta

from opportunities.models import Idea, NoticeLane, Opportunity
from opportunities.notices import notify
from opscore.llm import OFFLINE_NOTE, offline_mark
from opscore.models import RunStatus
from opscore.standing_orders import RunResult

TOP_BETS = 5


def line_of(o: Opportunity) -> str:
    return (
        f"- O{o.id} {o.title} (impact {o.impact}, confidence {o.confidence}, urgency "
        f"{o.urgency}, {len(o.evidence)} evidence) — next: {o.suggested_next_step[:160]}"
    )


def marked(body: str) -> str:
    """Offline, a digest says so first: its items came from the offline stand-in."""
    return f"{OFFLINE_NOTE}\n{body}" if offline_mark() else body


def opportunity_digest(order, run):
    since = run.scheduled_for - timedelta(hours=24)
    fresh = list(Opportunity.objects.filter(created_at__gte=since).order_by("-id")[:20])
    converted = list(
        Opportunity.objects.filter(status="converted", updated_at__gte=since).order_by("-id")[:10]
    )
    ideas = list(Idea.objects.filter(created_at__gte=since).order_by("-id")[:10])
    if not (fresh or converted or ideas):
        return RunResult(RunStatus.NO_WORK, "nothing new in the proactive lane: no digest sent")
    parts = []
    if fresh:
        parts += ["New opportunities:", *(line_of(o) for o in fresh)]
    if converted:
        parts += ["Became work:", *(f"- O{o.id} {o.title} → P{o.proposal_id}" for o in converted)]
    if ideas:
        parts += ["Ideas:", *(f"- I{i.id} {i.title} ({i.source_agent_id})" for i in ideas)]
    day = f"{run.local_slot():%Y-%m-%d}"
    notice = notify(
        NoticeLane.DIGEST,
        f"{offline_mark()}Ideas digest {day}: {len(fresh)} new, {len(converted)} became work",
        marked("\n".join(parts)),
        dedupe_key=f"digest:{day}",
        run=run,
        source_agent_id=order.agent_id,
    )
    return RunResult(RunStatus.COMPLETED, notice.title, {"notice_id": notice.id})


def weekly_bets_memo(order, run):
    open_ones = Opportunity.objects.filter(status__in=["new", "triaged", "accepted"])
    bets = sorted(open_ones[:200], key=lambda o: (-o.score, o.id))[:TOP_BETS]
    if not bets:
        return RunResult(RunStatus.NO_WORK, "no open opportunity: no memo sent")
    by_theme = defaultdict(list)
    for bet in bets:
        by_theme[bet.theme].append(bet)
    parts = []
    for theme, items in sorted(by_theme.items()):
        parts += [f"{theme}:", *(line_of(o) for o in items)]
    week = f"{run.local_slot():%G-W%V}"
    notice = notify(
        NoticeLane.MEMO,
        f"{offline_mark()}Top {len(bets)} bets, week {week}",
        marked("\n".join(parts)),
        dedupe_key=f"memo:{week}",
        run=run,
        source_agent_id=order.agent_id,
    )
    return RunResult(RunStatus.COMPLETED, notice.title, {"notice_id": notice.id})


HANDLERS = {"opportunity_digest": opportunity_digest, "weekly_bets_memo": weekly_bets_memo}
