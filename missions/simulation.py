"""The policy simulator: the window's recorded proposals replayed, in the order they arrived,
through the intake's own rules (missions.gates' `CapRule`s and `auto_approvable`) with one policy
value swapped for an edited one, before that value is saved.

Read-only by construction: it only reads, inside a transaction that is rolled back (read only
where the database allows it). Bounded: proposals are read in chunks, a deadline and a cancel
flag are checked between chunks, and only counters and the first N examples are kept.

What it cannot know is taken as recorded: an agent disabled or over its daily limit, a lane
paused in drop mode, a human's decision on a proposal that waited for one (re-gated at the
moment they approved, as `approve_proposal` does), a plug-in gate with no pure rule. A
proposal the edited policy sends to a human that no human saw is reported `pending`, and so is
a post of words a person had refused before it arrived: the intake never auto-approves those.
"""

import heapq
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from django.db import connection, transaction
from django.db.models import BooleanField, Case, DateTimeField, Q, When
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from missions.gates import BUILTIN, GATES, RESERVED_FOR_GOALS, auto_approvable
from missions.models import (
    STEP_OPEN,
    THE_DOOR,
    Artifact,
    Proposal,
    RejectionCode,
    Step,
    StepStatus,
    WordsApproval,
)
from missions.models.proposals import own_words
from missions.models.steps import QUOTA_WAIT
from missions.models.words import WordsDecision, text_digest
from opscore.db import db_now
from opscore.models import Policy
from opscore.overrides import refuse_owned_change
from opscore.policies import PolicyValue, parse_policy, validate_policy

CHUNK = 2000
AUTO, ACCEPTED, PENDING, REJECTED = "auto_approved", "accepted", "pending", "rejected"
# Refusals no policy value simulated here changes, taken as recorded where they were made: at
# the intake's door (and a lane paused in drop mode), and again at a person's approval (all but
# the daily limit, which an approval does not count again).
AT_THE_DOOR = {RejectionCode.AGENT_DISABLED, RejectionCode.DAILY_LIMIT, RejectionCode.LANE_PAUSED}
AT_APPROVAL = {RejectionCode.AGENT_DISABLED, RejectionCode.LANE_PAUSED}
SIMULATED_KEYS = sorted({rule.policy_key for rule in BUILTIN.values()} | {"auto_approve"})
FIELDS = ("id", "created_at", "decided_at", "decided_by", "status", "rejection_code", "reason")
FIELDS += ("proposed_steps", "untrusted", "needs_human", "source", "agent_id", "title")
FIELDS += ("cause_ref", "gate_decision")


class SimulationRefused(ValueError):
    """A value a policy save would refuse, or a window that makes no sense."""


class SimulationStopped(Exception):
    """Cancelled, or out of time: the report so far says how far it got."""


# When a step stopped counting toward a day's quota (Step.objects.in_todays_quota): when it
# failed, died or was cancelled (its slot free at once), or when it succeeded (counted the rest
# of that day, no day after); None while it waits to run (it counts on each day). One its quota
# blocked at run time holds no slot while it waits: freed from when it was made (the row keeps
# no time it was blocked at).
QUOTA_BLOCKED = Q(status=StepStatus.BLOCKED, blocked_code=QUOTA_WAIT)
STOPPED_COUNTING = Case(
    When(QUOTA_BLOCKED, then="created_at"),
    When(status__in=STEP_OPEN, then=None),
    default=Coalesce("finished_at", "created_at"),
    output_field=DateTimeField(),
)
FREED = Case(
    When(QUOTA_BLOCKED, then=True),
    When(status__in=[StepStatus.CANCELLED, StepStatus.FAILED, StepStatus.DEAD], then=True),
    default=False,
    output_field=BooleanField(),
)
SINCE = re.compile(r"^(?P<n>[1-9][0-9]{0,4})(?P<unit>[mhd])$")
UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def parse_since(text: str) -> timedelta:
    """`90m`, `12h`, `7d`: how far back the window reaches (at most 90 days)."""
    match = SINCE.match((text or "").strip())
    if match is None:
        raise SimulationRefused(f"--since {text!r}: use a number and m, h or d, e.g. 7d")
    return int(match["n"]) * UNIT[match["unit"]]


def check_value(key: str, value) -> PolicyValue:
    """Exactly the validation of a policy save (set_policy and the admin form)."""
    from opscore.overrides import OverrideRefused
    from opscore.policies import PolicyError

    stored = Policy.objects.filter(key=key).values_list("value", flat=True).first()
    try:
        normalised = validate_policy(key, value, stored=stored)
        refuse_owned_change(key, normalised)
    except (PolicyError, OverrideRefused) as refused:
        raise SimulationRefused(str(refused)) from None
    return parse_policy(key, normalised)


def admin_url(model: str, pk) -> str:
    return reverse(f"admin:{model}_change", args=[pk])


def recorded_outcome(row: dict) -> str:
    if row["status"] == "accepted":
        return AUTO if row["decided_by"] == "system:auto_approve" else ACCEPTED
    return row["status"]


def reserved_for_goals(row: dict, *, at_approval: bool = False) -> int:
    """The quota slots goal_preference kept free of this proposal when it arrived (what the
    intake weighed is on the row), or when a person approved it (what the approval weighed,
    beside it; as at its arrival on a row decided before approvals kept theirs): the edited
    value's quotas are judged with them too."""
    decision = row["gate_decision"] or {}
    if at_approval and "at_approval" in decision:
        decision = decision["at_approval"]
    weighed = decision.get("goal_preference") or {}
    return int(weighed.get("reserved") or 0)


def words_refused_then(row: dict) -> bool:
    """Whether it would post words a person had refused by the time it arrived (its own, or
    those the steps it waits for had written): the intake sends such a post to a person
    whatever auto_approve says (missions.actions._auto_approvable). Asked only of work the
    edited value would auto-approve that was not auto-approved then (the intake found none)."""
    if recorded_outcome(row) == AUTO:
        return False
    steps, arrived = row["proposed_steps"], row["created_at"]
    texts = [text for spec in steps for text in own_words(spec["kind"], spec.get("payload") or {})]
    waited = {i for spec in steps for i in spec.get("after_steps", [])}
    if waited:
        written = Artifact.objects.filter(step__in=waited, created_at__lte=arrived)
        texts += written.values_list("body", flat=True)
    refusals = WordsApproval.objects.filter(decision=WordsDecision.REFUSED, created_at__lte=arrived)
    return bool(texts) and refusals.filter(digest__in={text_digest(t) for t in texts}).exists()


def refused_as_recorded(row: dict, *, at_intake: bool) -> bool:
    """Refused before the cap gates (its agent switched off, its lane paused in drop mode), at
    the intake or again at a human's approval: no policy value simulated here changes that.
    One an approval refused had arrived with its agent on, so it is judged at its arrival."""
    by_intake = row["decided_by"] == THE_DOOR
    codes = AT_THE_DOOR if at_intake else AT_APPROVAL
    return row["rejection_code"] in codes and by_intake == at_intake


def day_of(when: datetime):
    return timezone.localtime(when).date()


def start_of_day(when: datetime) -> datetime:
    return start_of_date(day_of(when))


def start_of_date(day) -> datetime:
    """Midnight that begins `day` in OPS_TIME_ZONE (its UTC offset that night, not the one
    the day ends with, where the clocks change during it)."""
    return timezone.make_aware(datetime(day.year, day.month, day.day))


@dataclass
class Verdict:
    row: dict
    outcome: str
    reason: str = ""


@dataclass
class Replay:
    """One pass over a window: the counters a gate reads, kept as the edited policy decides."""

    policies: dict[str, PolicyValue]
    real_steps: dict[int, list]  # proposal → [(kind, when it stopped counting, freed)]
    until: datetime  # the window's end: a step still waiting counts on each day up to it
    used: Counter = field(default_factory=Counter)
    later: list = field(default_factory=list)
    seq: int = 0

    def judge(self, kinds: list[str], when: datetime, row: dict, approval=False) -> str | None:
        """As missions.gates.first_refusal: each gate, then the slots kept for goal work."""
        reserved = reserved_for_goals(row, at_approval=approval)
        for kind in sorted(set(kinds) & set(GATES)):
            rule = BUILTIN.get(kind)
            if rule is None:  # a plug-in gate without a pure rule: as it decided then
                if row["rejection_code"] == RejectionCode.CAP_GATE:
                    return row["reason"]
                continue
            policy, used, wanted = (
                self.policies[rule.policy_key],
                self.used[day_of(when), kind],
                kinds.count(kind),
            )
            reason = rule.judge(policy, used, wanted)
            if not reason and reserved and rule.judge(policy, used, wanted + reserved):
                reason = f"{kind}: {RESERVED_FOR_GOALS.format(n=reserved)}"
            if reason:
                return reason
        return None

    def count(self, row: dict, when: datetime) -> None:
        if recorded_outcome(row) in (AUTO, ACCEPTED):
            steps = self.real_steps.get(row["id"], [])
        else:  # work that never ran has no day it ended: taken as run the day it was let in
            steps = [
                (s["kind"], when, False) for s in row["proposed_steps"] if s["kind"] in BUILTIN
            ]
        for kind, ended, freed in steps:
            self.step_created(when, kind, ended, freed)

    def step_created(self, when: datetime, kind: str, ended=None, freed=False) -> None:
        """A step counts as the gates count it: on the day it was made and on each day after
        while it waits to run, up to the day it ended (`ended`; None: it still waits); from
        then on no more if it failed or was cancelled (`freed`), else to that day's end."""
        first = day_of(when)
        last = day_of(max(ended, when)) if ended is not None else day_of(self.until)
        self.used[first, kind] += 1
        for later in range(1, (last - first).days + 1):
            day = first + timedelta(days=later)
            self.schedule(start_of_date(day), -1, lambda d=day: self.step_counts(d, kind))
        if freed:
            self.schedule(max(ended, when), -1, lambda: self.step_ended(last, kind))

    def step_counts(self, day, kind: str) -> None:
        self.used[day, kind] += 1

    def step_ended(self, day, kind: str) -> None:
        self.used[day, kind] -= 1

    def schedule(self, when: datetime, pid: int, action) -> None:
        self.seq += 1
        heapq.heappush(self.later, (when, pid, self.seq, action))

    def run_until(self, key) -> list[Verdict]:
        done = []
        while self.later and self.later[0][:2] < key:
            _, _, _, action = heapq.heappop(self.later)
            verdict = action()
            if verdict is not None:
                done.append(verdict)
        return done

    def submit(self, row: dict) -> Verdict | None:
        """The intake's order: the door (as recorded), the cap gates, then auto-approval."""
        if refused_as_recorded(row, at_intake=True):
            return Verdict(row, REJECTED, row["reason"])
        kinds = [s["kind"] for s in row["proposed_steps"]]
        reason = self.judge(kinds, row["created_at"], row)
        if reason:
            return Verdict(row, REJECTED, reason)
        approve = self.policies["auto_approve"]
        flags = {"untrusted": row["untrusted"], "needs_human": row["needs_human"]}
        if auto_approvable(approve, kinds, **flags) and not words_refused_then(row):
            self.count(row, row["created_at"])
            return Verdict(row, AUTO)
        return self.await_human(row, kinds)

    def await_human(self, row: dict, kinds: list[str]) -> Verdict | None:
        human = row["decided_at"] and row["decided_by"] not in (THE_DOOR, "")
        human = human and row["decided_by"] != "system:auto_approve"
        if not human:
            return Verdict(row, PENDING)
        if row["rejection_code"] == RejectionCode.OPERATOR:
            return Verdict(row, REJECTED, row["reason"])
        self.schedule(row["decided_at"], row["id"], lambda: self.approve(row, kinds))
        return None

    def approve(self, row: dict, kinds: list[str]) -> Verdict:
        """As `approve_proposal`: the gates run again when the human approves."""
        if refused_as_recorded(row, at_intake=False):
            return Verdict(row, REJECTED, row["reason"])
        reason = self.judge(kinds, row["decided_at"], row, approval=True)
        if reason:
            return Verdict(row, REJECTED, reason)
        self.count(row, row["decided_at"])
        return Verdict(row, ACCEPTED)


@dataclass
class Window:
    start: datetime
    end: datetime

    @classmethod
    def since(cls, since: timedelta) -> "Window":
        if since <= timedelta(0) or since > timedelta(days=90):
            raise SimulationRefused("the window is more than 0 and at most 90 days")
        end = db_now()
        return cls(end - since, end)

    def proposals(self):
        rows = Proposal.objects.filter(created_at__gte=self.start, created_at__lte=self.end)
        return rows.order_by("created_at", "id").values(*FIELDS).iterator(chunk_size=CHUNK)

    def real_steps(self) -> dict[int, list]:
        """Gated steps the window's accepted proposals really created, each with when it
        stopped counting (None: it still waits to run) and whether its slot was freed then."""
        steps = Step.objects.filter(
            kind__in=list(BUILTIN), mission__proposal__created_at__gte=self.start
        )
        found: dict[int, list] = {}
        for pid, kind, ended, freed in steps.values_list(
            "mission__proposal_id", "kind", STOPPED_COUNTING, FREED
        ).iterator(CHUNK):
            found.setdefault(pid, []).append((kind, ended, freed))
        return found

    def earlier_steps(self):
        """Gated steps counted on the window's days but not from its proposals: (when they
        began counting here, kind, when they stopped, freed). One made before the window's
        first day that still waited on it counts from that day's start."""
        first = start_of_day(self.start)
        counted = Q(created_at__gte=first) | Q(status__in=STEP_OPEN) | Q(finished_at__gte=first)
        steps = Step.objects.filter(counted, kind__in=list(BUILTIN), created_at__lte=self.end)
        steps = steps.exclude(mission__proposal__created_at__gte=self.start)
        rows = steps.values_list("created_at", "kind", STOPPED_COUNTING, FREED).iterator(CHUNK)
        return ((max(made, first), kind, ended, freed) for made, kind, ended, freed in rows)


def policies_with(key: str, edited: PolicyValue) -> dict[str, PolicyValue]:
    keys = {rule.policy_key for rule in BUILTIN.values()} | {"auto_approve"}
    return {k: Policy.objects.value(k) for k in keys} | {key: edited}


def replay(window: Window, key: str, edited: PolicyValue, *, sink, deadline, cancel=None):
    """Feed every proposal's verdict to `sink` in arrival order; raise SimulationStopped when
    the deadline passes or `cancel()` says so (between chunks: nothing is half-judged)."""
    state = Replay(policies_with(key, edited), window.real_steps(), window.end)
    for when, kind, ended, freed in window.earlier_steps():
        created = partial(state.step_created, when, kind, ended, freed)
        state.schedule(when, -1, created)
    for index, row in enumerate(window.proposals()):
        if index % CHUNK == 0 and (time.monotonic() > deadline or (cancel and cancel())):
            raise SimulationStopped(f"stopped after {index} proposals")
        for verdict in state.run_until((row["created_at"], row["id"])):
            sink(verdict)
        verdict = state.submit(row)
        if verdict is not None:
            sink(verdict)
    for verdict in state.run_until((datetime.max.replace(tzinfo=UTC), 0)):
        sink(verdict)


def read_only(run, seconds: float):
    """Run `run()` in a transaction that is always rolled back (READ ONLY when it is ours),
    no query of which may outlast the whole simulation's time (statement_timeout, local to
    it: undone with it, savepoint included)."""
    ours = not connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            if ours:
                cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)",
                [str(int(max(seconds, 10.0) * 1000) + 1000)],
            )
        try:
            return run()
        finally:
            transaction.set_rollback(True)
