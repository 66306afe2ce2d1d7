"""What a generic standing order looks at before it may ask for work: each precondition returns
the rows it found (as evidence refs with a line of text), and an order proposes work only when
there are some — carrying them into the step's payload, so into the prompt. Nothing found is
`no_work`: an hourly order spends no proposal (and no LLM call) on prose about nothing.

What is not news (bookkeeping, the roster, an operator's admin edits) is opscore.news's, shared
with idle cognition; the events of work a standing order itself asked for are not news either.
"""

from django.db.models import Q

from missions.models import Mission, Step, StepStatus
from opportunities.packets import events_window
from opscore.news import not_news

SHOWN = 10  # rows carried into a prompt; the count says how many there were


def own_work() -> Q:
    """Events about work that standing orders asked for (their own echo)."""
    return Q(mission__proposal__cause_ref__startswith="standing_order_run:") | Q(
        proposal__cause_ref__startswith="standing_order_run:"
    )


def found(rows, kind: str, text) -> list[dict]:
    return [{"type": kind, "id": row.id, "text": text(row)[:160]} for row in rows[:SHOWN]]


def events_since(order, since, after_event=None) -> list[dict]:
    """The news past the previous look's place in the log, not past its time: one committed
    late is news still (opportunities.packets.events_window)."""
    news = events_window(since, after_event).exclude(own_work()).exclude(not_news())
    return found(news.order_by("-id"), "event", lambda e: f"{e.kind}: {e.title}")


def failures_since(order, since, after_event=None) -> list[dict]:
    failed = Step.objects.filter(
        status__in=[StepStatus.FAILED, StepStatus.DEAD], finished_at__gte=since
    ).order_by("-id")
    return found(failed, "step", lambda s: f"S{s.id} {s.kind} {s.status}: {s.last_error}")


def missions_finished_since(order, since, after_event=None) -> list[dict]:
    done = (
        Mission.objects.filter(finished_at__gte=since)
        .exclude(proposal__cause_ref__startswith="standing_order_run:")
        .order_by("-id")
    )
    return found(done, "mission", lambda m: f"M{m.id} {m.title} [{m.status}]")


def blocked_work(order, since, after_event=None) -> list[dict]:
    blocked = Step.objects.filter(status=StepStatus.BLOCKED).order_by("id")
    return found(blocked, "step", lambda s: f"S{s.id} {s.kind} blocked: {s.blocked_reason}")


BUILTIN_PRECONDITIONS = {
    "events_since_last_run": events_since,
    "failures_since_last_run": failures_since,
    "missions_finished_since_last_run": missions_finished_since,
    "blocked_work_exists": blocked_work,
}
