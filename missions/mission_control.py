"""One mission under an operator's hand: pause and resume it, send it a note, give it a deadline.

A pause is a column the claim functions read (missions/sql/claim_step.v5.sql): nothing of a
paused mission is claimed, its running steps finish, its queued ones keep their place. A note is
an event the mission's next LLM step sees in its prompt (missions/prompts.py). A deadline is
checked by the sweeper on the database clock: past it, open steps fail with the reason and the
mission ends `timed_out`. Each change is one transaction with its event, actor and reason; the
admin, the Stage, `manage.py mission` and `POST /api/ops/missions/<id>/<verb>` all call these.
"""

import re
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models.functions import Now

from missions.actions import DecisionRefused
from missions.dependents import cancel_dependents_of
from missions.models import STEP_TERMINAL, Mission, MissionStatus, StepStatus
from missions.text import strip_invisible
from opscore.actions import record_cap_hit, record_event
from opscore.db import db_now
from opscore.models import Event
from opscore.overrides import UNIT_SECONDS
from opscore.replay import written_by_then
from opscore.text import ReasonRefused, checked_reason

MAX_NOTE = 1000
MAX_DEADLINE_AHEAD = timedelta(days=366)
SPAN = re.compile(r"^(?P<n>[1-9][0-9]*)(?P<unit>[smhd])$")
NOTE_EVENT = "mission.note"
OPEN = [MissionStatus.APPROVED, MissionStatus.RUNNING]


def _locked_open(mission_id: int) -> Mission:
    mission = Mission.objects.select_for_update().filter(pk=mission_id).first()
    if mission is None:
        raise DecisionRefused(f"no mission {mission_id}", status=404)
    if mission.is_terminal:
        raise DecisionRefused(f"M{mission.id} is already {mission.status}")
    return mission


def _reason(reason: str, verb: str) -> str:
    try:
        return checked_reason(reason, needed_by=f"a mission's {verb}")
    except ReasonRefused as refused:
        raise DecisionRefused(str(refused), status=400) from None


def _event(mission: Mission, verb: str, actor: str, payload: dict) -> None:
    record_event(
        f"mission.{verb}",
        f"Mission M{mission.id} {verb} by {actor}",
        tags=["mission", verb],
        payload=payload,
        agent_id=mission.agent_id,
        mission=mission,
        actor=actor,
    )


@transaction.atomic
def pause_mission(mission_id: int, *, actor: str, reason: str) -> Mission:
    """Nothing new of the mission is claimed until it is resumed; running steps finish."""
    reason = _reason(reason, "pause")
    mission = _locked_open(mission_id)
    if mission.paused_at is not None:
        raise DecisionRefused(f"M{mission.id} is already paused: {mission.pause_reason}")
    mission.pause(reason)
    running = mission.steps.filter(status="running").count()
    _event(mission, "paused", actor, {"reason": reason, "running_steps_finish": running})
    return mission


@transaction.atomic
def resume_mission(mission_id: int, *, actor: str, reason: str) -> Mission:
    reason = _reason(reason, "resumption")
    mission = _locked_open(mission_id)
    if mission.paused_at is None:
        raise DecisionRefused(f"M{mission.id} is not paused")
    mission.resume()
    _event(mission, "resumed", actor, {"reason": reason})
    return mission


@transaction.atomic
def note_mission(mission_id: int, *, actor: str, text: str) -> Mission:
    """The note is an event; the mission's next LLM step carries it in its prompt."""
    text = strip_invisible(str(text or "")).strip()
    if not text:
        raise DecisionRefused("a note needs text", status=400)
    if len(text) > MAX_NOTE:
        raise DecisionRefused(
            f"a note is at most {MAX_NOTE} characters ({len(text)} given)", status=400
        )
    mission = _locked_open(mission_id)
    _event(mission, "note", actor, {"note": text})
    return mission


def parse_deadline(text: str) -> datetime:
    """`90m`, `2h`, `3d` from now on the database clock, or an ISO 8601 time with its zone. A
    span reaches as far as a time may: read as an override's expiry (at most 30 days), `60d`
    was told to "give a span" while the same day typed as a time was taken."""
    text = str(text or "").strip()
    if match := SPAN.match(text):
        seconds = int(match["n"][:10]) * UNIT_SECONDS[match["unit"]]
        if len(match["n"]) > 9 or seconds > MAX_DEADLINE_AHEAD.total_seconds():
            raise DecisionRefused(f"deadline {text[:40]!r}: at most a year ahead", status=400)
        return db_now() + timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise DecisionRefused(
            f"deadline {text!r}: give a span (90m, 2h, 3d) or an ISO time with its zone",
            status=400,
        ) from None
    if when.tzinfo is None:
        raise DecisionRefused(
            f"deadline {text!r}: give its zone, e.g. 2026-12-03T18:00+00:00", status=400
        )
    return when


@transaction.atomic
def set_mission_deadline(mission_id: int, *, actor: str, deadline: str, reason: str) -> Mission:
    reason = _reason(reason, "deadline")
    when = parse_deadline(deadline)
    if when <= db_now():
        raise DecisionRefused(f"deadline {when.isoformat()} has already passed", status=400)
    if when > db_now() + MAX_DEADLINE_AHEAD:  # and year 9999 in -14:00 overflows the column
        raise DecisionRefused(f"deadline {when.isoformat()}: at most a year ahead", status=400)
    mission = _locked_open(mission_id)
    mission.deadline_at = when
    mission.save(update_fields=["deadline_at"])
    _event(mission, "deadline_set", actor, {"deadline": when.isoformat(), "reason": reason})
    return mission


def time_out_missions(limit: int = 100) -> int:
    """The sweeper's duty: every open mission past its deadline (database clock) times out, at
    most `limit` a pass, earliest deadline first; a pass cut short leaves a row."""
    due = Mission.objects.filter(status__in=OPEN, deadline_at__lte=Now())
    batch = list(due.order_by("deadline_at", "id").values_list("pk", flat=True)[: limit + 1])
    timed_out = sum(time_out_mission(pk) for pk in batch[:limit])
    if len(batch) > limit:
        record_cap_hit("time_out_missions", limit, due.count(), actor="system:sweeper")
    return timed_out


@transaction.atomic
def time_out_mission(mission_id: int) -> bool:
    mission = Mission.objects.select_for_update().get(pk=mission_id)
    if mission.is_terminal or mission.deadline_at is None or mission.deadline_at > db_now():
        return False  # someone ended or extended it since the sweep looked
    reason = f"mission M{mission.id} passed its deadline {mission.deadline_at:%Y-%m-%d %H:%M} UTC"
    open_steps = mission.steps.exclude(status__in=STEP_TERMINAL).select_for_update()
    ended = list(open_steps.only("id", "mission_id"))
    failed = open_steps.fail_with(reason)
    mission.time_out()
    cancel_dependents_of(ended, StepStatus.FAILED)
    _event(mission, "timed_out", "system:sweeper", {"reason": reason, "steps_failed": failed})
    return True


def mission_state(mission: Mission) -> dict:
    """What every interface answers after a change: the mission's control state."""
    return {
        "id": mission.id,
        "status": mission.status,
        "paused": mission.paused_at is not None,
        "pause_reason": mission.pause_reason,
        "deadline_at": mission.deadline_at.isoformat() if mission.deadline_at else None,
    }


def control_mission(mission_id: int, verb: str, *, actor: str, fields: dict) -> Mission:
    """One entry for the CLI, the API and the Stage: `verb` with its fields (reason, text,
    deadline). DecisionRefused says in one line what was wrong."""
    reason, text = fields.get("reason") or "", fields.get("text") or ""
    if verb == "pause":
        return pause_mission(mission_id, actor=actor, reason=reason)
    if verb == "resume":
        return resume_mission(mission_id, actor=actor, reason=reason)
    if verb == "note":
        if text and reason and text != reason:  # one would be kept, the other dropped unsaid
            raise DecisionRefused(
                "a note is one text: give it as text or as reason, not two different ones",
                status=400,
            )
        return note_mission(mission_id, actor=actor, text=text or reason)
    if verb == "deadline":
        deadline = fields.get("deadline") or ""
        return set_mission_deadline(mission_id, actor=actor, deadline=deadline, reason=reason)
    raise DecisionRefused(f"unknown mission verb {verb!r}; known: {', '.join(VERBS)}", status=404)


VERBS = ("pause", "resume", "note", "deadline")


def latest_notes(mission_id: int, limit: int = 5) -> list[Event]:
    """The mission's latest note events, oldest first: what its next prompt carries."""
    rows = written_by_then(Event.objects.filter(kind=NOTE_EVENT, mission_id=mission_id))
    return list(reversed(rows.order_by("-id")[:limit]))


def note_line(event: Event) -> str:
    return f"{event.actor}: {event.payload.get('note', '')}"


def operator_notes(mission_id: int, limit: int = 5) -> list[str]:
    """The mission's latest notes, oldest first, as its next prompt reads them."""
    return [note_line(e) for e in latest_notes(mission_id, limit)]
