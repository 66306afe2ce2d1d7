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
    """One line; an opportunity whose words are not Opscore's says so in it."""
    untrusted = f"untrusted: {o.untrusted_reason}; " if o.untrusted_reason else ""
    return (
        f"- O{o.id} {o.title} ({untrusted}impact {o.impact}, confidence {o.confidence}, urgency "
        f"{o.urgency}, {len(o.evidence)} evidence) — next: {o.suggested_next_step[:160]}"
    )


def idea_line(i: Idea) -> str:
    untrusted = f"; untrusted: {i.untrusted_reason}" if i.untrusted_reason else ""
    return f"- I{i.id} {i.title} ({i.source_agent_id}{untrusted})"


def marked(body: str) -> str:
    """Offline, a digest says so first: its items came from the offline stand-in."""
    return f"{OFFLINE_NOTE}\n{body}" if offline_mark() else body


def listed(heading: str, rows, limit: int, line, more: str) -> tuple[int, list[str]]:
    """How many rows there are, and the section listing the first `limit` of them: a busy
    day's digest stays short but says how many it left out, never dropping them unsaid."""
    total = rows.count()
    if not total:
        return 0, []
    lines = [heading, *(line(row) for row in rows[:limit])]
    if total > limit:
        lines.append(f"- … and {total - limit} more {more} (the Stage's Opportunities board)")
    return total, lines


def sections_since(since) -> tuple:
    """The digest's sections: heading, rows, how many are listed, a row's line, what the rest
    are called."""
    converted = Opportunity.objects.filter(status="converted", updated_at__gte=since)
    return (
        (
            "New opportunities:",
            Opportunity.objects.filter(created_at__gte=since).order_by("-id"),
            20,
            line_of,
            "new opportunities",
        ),
        (
            "Became work:",
            converted.order_by("-id"),
            10,
            lambda o: f"- O{o.id} {o.title} → P{o.proposal_id}",
            "that became work",
        ),
        (
            "Ideas:",
            Idea.objects.filter(created_at__gte=since).order_by("-id"),
            10,
            idea_line,
            "ideas",
        ),
    )


def opportunity_digest(order, run):
    since = run.window_start(timedelta(hours=24))  # after a pause, from its last real look
    (fresh, new_lines), (converted, work_lines), (ideas, idea_lines) = (
        listed(*section) for section in sections_since(since)
    )
    if not (fresh or converted or ideas):
        return RunResult(RunStatus.NO_WORK, "nothing new in the proactive lane: no digest sent")
    parts = [*new_lines, *work_lines, *idea_lines]
    day = f"{run.local_slot():%Y-%m-%d}"
    notice = notify(
        NoticeLane.DIGEST,
        f"{offline_mark()}Ideas digest {day}: {fresh} new, {converted} became work",
        marked("\n".join(parts)),
        dedupe_key=f"digest:{day}",
        run=run,
        source_agent_id=order.agent_id,
    )
    return RunResult(RunStatus.COMPLETED, notice.title, {"notice_id": notice.id})


def weekly_bets_memo(order, run):
    open_ones = Opportunity.objects.filter(status__in=["new", "triaged", "accepted"])
    bets = sorted(open_ones.strongest()[:TOP_BETS], key=lambda o: (-o.score, o.id))
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
