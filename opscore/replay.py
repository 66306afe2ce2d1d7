"""Replaying recorded model calls: a provider that answers each call from its record (or, live,
re-asks the configured provider) and compares, call by call, what today's code asks and decides
with what was asked and decided then.

A replay runs inside a transaction that is always rolled back, so the live ledger never sees
it; its ReplayRun row is written after the rollback. What a live one spent is real money,
though: each call asks the budget with what the replay has spent so far, and afterwards (also
when the re-run failed) the spend is added to the day's, by the recorded calls' agents and
lanes, so the budget and the status page count it. The lanes say how their subject is re-run
(each in its own replay.py); this module knows only calls.
"""

import difflib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, transaction

from opscore import llm
from opscore.budgets import add_to_todays_spend, lane_of, outside_the_ledger
from opscore.llm_providers import answering, provider_override
from opscore.llm_records import redacted, request_document
from opscore.llm_wire import one_line
from opscore.models import LLMCall, LLMCallRecord, ReplayMode, ReplayOutcome, ReplayRun
from opscore.redaction import redact_text
from opscore.registry import Registry

# name → view(first moment), a view with `.at(moment)`: inside the replay's transaction, make a
# lane's state look as it did at each recorded call's moment (a lane hides what it learned
# since and brings back what it retired since). A recorded replay asks today's code with the
# company's knowledge as each call had it; a live one asks with today's.
AS_OF: Registry = Registry("replay as-of view")
log = logging.getLogger(__name__)


class ReplayHalt(BaseException):
    """Stops a replay mid-run (a deadline, the call limit, a call the record does not have).
    A BaseException on purpose: the code being replayed turns every Exception from a provider
    into a failed step or turn, and a halted replay must not be mistaken for one."""


@dataclass
class Compared:
    """One call: what was asked and answered then, and now."""

    index: int
    call_id: int
    purpose: str
    prompt_diff: str = ""
    reply_diff: str = ""
    decision_was: object = None
    decision_now: object = None

    def diverged_on(self) -> list[str]:
        found = ["prompt"] * bool(self.prompt_diff) + ["reply"] * bool(self.reply_diff)
        return found + ["decision"] * (self.decision_was != self.decision_now)

    def as_json(self) -> dict:
        return {
            "index": self.index,
            "call": self.call_id,
            "purpose": self.purpose,
            "diverged_on": self.diverged_on(),
            "prompt_diff": self.prompt_diff,
            "reply_diff": self.reply_diff,
            "decision_was": self.decision_was,
            "decision_now": self.decision_now,
        }


def diff(was, now, what: str) -> str:
    """A unified diff of two JSON-able values, empty when they are equal."""
    if was == now:
        return ""
    lines = [json.dumps(v, indent=1, sort_keys=True).splitlines() for v in (was, now)]
    return "\n".join(
        difflib.unified_diff(*lines, f"{what} (recorded)", f"{what} (now)", lineterm="")
    )


@dataclass
class RecordedProvider:
    """Answers each call with the next recorded one, in the order the record has them; with
    `live`, asks that provider instead and compares its answer with the record's."""

    calls: list
    live: object = None
    deadline: float = 0.0
    max_calls: int = 0
    compared: list = field(default_factory=list)
    cost: Decimal = Decimal(0)
    # (agent slug, lane) → [usd, calls]: what live calls spent, kept out of the ledger until
    # the rollback (budgets.outside_the_ledger) and added to the day's spend after it
    unledgered: dict = field(default_factory=dict)
    passed_over: list = field(default_factory=list)  # (call, why): recorded, not asked now
    skipped: list = field(default_factory=list)  # (call, why): recorded, not replayable today
    missing: list = field(default_factory=list)  # records pruned while it ran (_record_of)
    views: list = field(default_factory=list)  # the lanes' as-of views (a recorded replay)
    moment: object = None  # when the call a recorded replay asks next was sent (written_by_then)
    replaying = True

    @property
    def name(self) -> str:
        return self.live.name if self.live else "recorded"

    def model_for(self, tier: str) -> str:
        if self.live:
            return self.live.model_for(tier)
        return self.calls[0].model if self.calls else "recorded"

    def next_is_for(self, **links) -> bool:
        return bool(self.calls) and all(self.calls[0].links.get(k) == v for k, v in links.items())

    def as_it_was(self) -> None:
        """Called by a lane before a step or turn builds its next prompt: the lanes' state as
        the next recorded call saw it (a recorded replay only)."""
        if self.calls and not self.live:
            self.moment = moment_of(self.calls[0])
            for view in self.views:
                view.at(self.moment)

    def pass_over(self, why: str) -> None:
        """The next recorded call was not asked this time (today's code stopped before it, or
        the budget refused it): reported as not asked, with why, and the re-run moves on."""
        self.passed_over.append((self.calls.pop(0), why[:500]))

    def skip(self, why: str) -> None:
        """The next recorded call is one the subject cannot replay (a harness review's): named
        in the report as not replayed, neither matched nor diverged."""
        self.skipped.append((self.calls.pop(0), why[:500]))

    def complete(self, request):
        if len(self.compared) >= self.max_calls or time.monotonic() > self.deadline:
            raise ReplayHalt(f"stopped after {len(self.compared)} calls (limit or deadline)")
        if not self.calls:
            raise ReplayHalt("the new run makes a call the record does not have")
        call = self.calls.pop(0)
        record = self._record_of(call)
        now = redacted(request_document(request, call.model if not self.live else ""))
        was = record.request
        if self.live:
            was["parameters"]["model"] = ""
        entry = Compared(len(self.compared) + 1, call.id, call.purpose, diff(was, now, "prompt"))
        self.compared.append(entry)
        if self.live:
            return self._ask_live(request, record.reply, entry, (call.agent_id or "", call.purpose))
        return self._answer(record.reply)

    def _record_of(self, call) -> LLMCallRecord:
        """Read as the call is answered: retention may have pruned it since the replay checked
        (missing_records). A record that is gone is named missing and the replay stops there;
        nothing answers in its place."""
        record = LLMCallRecord.objects.filter(pk=call.pk).first()
        if record is None or record.pruned_at is not None:
            reason = record.pruned_reason if record else "no record was kept"
            self.missing.append({"call": call.id, "purpose": call.purpose, "reason": reason})
            raise ReplayHalt(f"the record of call {call.id} was pruned while the replay ran")
        return record

    def _ask_live(self, request, recorded: dict, entry: Compared, whose: tuple[str, str]):
        """The configured provider's answer; what it bills (a reply that fits no limit too) is
        charged to the recorded call's agent and lane, once its usage is checked as the ledger
        checks any call's (llm.within_limit): a count below zero took money off the day."""
        asked = self.live.model_for(request.tier)
        try:
            reply = llm.within_limit(self.live.complete(request), request)
        except llm.LLMReplyError as billed:
            usd = llm.cost_of(billed.model, billed.input_tokens, billed.output_tokens, asked)
            self._charge(whose, usd)
            raise
        self._charge(
            whose, llm.cost_of(reply.model, reply.input_tokens, reply.output_tokens, asked)
        )
        entry.reply_diff = diff(recorded.get("text"), reply.text, "reply")
        return reply

    def _charge(self, whose: tuple[str, str], usd: Decimal) -> None:
        """As the ledger counts a call: only a priced one."""
        if not usd:
            return
        agent_slug, purpose = whose
        spent = self.unledgered.setdefault((agent_slug, lane_of(purpose)), [Decimal(0), 0])
        spent[0] += usd
        spent[1] += 1
        self.cost += usd

    def _answer(self, recorded: dict):
        if "error" in recorded:
            raise recorded_error(recorded)
        fields = ("text", "input_tokens", "output_tokens", "model", "provider")
        return llm.LLMReply(**{k: recorded[k] for k in fields})

    def decided(self, was, now) -> None:
        """What the subject's code made of the last call's answer, then and now."""
        if self.compared:
            self.compared[-1].decision_was, self.compared[-1].decision_now = was, now


def moment_of(call: LLMCall):
    """When the call's prompt was sent: the row is written once the reply is in."""
    return call.created_at - timedelta(milliseconds=call.latency_ms)


def written_by_then(rows):
    """`rows` (any with a created_at) as a recorded replay's current call found them: what was
    written since (an operator's remark, answer or note on the mission) was not in its prompt.
    All of them outside a recorded replay (a live one asks with today's)."""
    moment = getattr(provider_override(), "moment", None)
    return rows if moment is None else rows.filter(created_at__lt=moment)


def recorded_error(recorded: dict) -> llm.LLMError:
    kind = {"TransientLLMError": llm.TransientLLMError, "LLMReplyError": llm.LLMReplyError}
    error_class = kind.get(recorded.get("class"), llm.LLMError)
    if error_class is llm.LLMReplyError:
        tokens = {k: recorded.get(k) or 0 for k in ("input_tokens", "output_tokens")}
        return llm.LLMReplyError(recorded["error"], **tokens, model=recorded.get("model", ""))
    return error_class(recorded["error"])


def missing_records(calls) -> list[dict]:
    """Calls whose record was pruned (or never kept): a replay without them would invent. One
    read for all of them, of whether each record is whole, never its compressed documents."""
    records = LLMCallRecord.objects.filter(pk__in=[call.pk for call in calls])
    why = dict(records.filter(request_z__isnull=True).values_list("pk", "pruned_reason"))
    known = set(records.values_list("pk", flat=True))
    return [
        {"call": call.id, "purpose": call.purpose, "reason": why.get(call.pk, "no record was kept")}
        for call in calls
        if call.pk in why or call.pk not in known
    ]


def recorded_calls(queryset) -> list:
    return list(queryset.answered_by_a_provider().order_by("created_at", "id"))


class _Rollback(Exception):
    pass


def replay(subject: str, subject_id: int, calls, rerun, *, live=False, actor="") -> ReplayRun:
    """Re-run `rerun(provider)` against the record of `calls`, roll everything back, then write
    the ReplayRun. A record with missing calls stops before anything runs."""
    calls = recorded_calls(calls)
    report = {"subject": subject, "id": subject_id, "calls_recorded": len(calls)}
    mode = ReplayMode.LIVE if live else ReplayMode.RECORDED
    if missing := missing_records(calls):
        report |= {"missing": missing, "calls": []}
        return _write(subject, subject_id, mode, ReplayOutcome.MISSING, report, None, actor)
    provider = RecordedProvider(
        calls,
        live=llm.get_provider() if live else None,
        deadline=time.monotonic() + settings.OPS_REPLAY_DEADLINE_SECONDS,
        max_calls=settings.OPS_REPLAY_MAX_CALLS,
    )
    try:
        halted = _rerun_and_roll_back(rerun, provider)
    except BaseException as error:
        _broke_off(subject, subject_id, mode, provider, report, actor, error)
        raise
    with transaction.atomic():
        charge_the_day(provider)
        return _conclude(subject, subject_id, mode, provider, halted, report, actor)


def _broke_off(subject, subject_id, mode, provider, report, actor, error) -> None:
    """A re-run that raised (an error of its own, Ctrl-C) spent all the same: its spend is added
    to the day, and it leaves its ReplayRun, failed, with what it spent, the calls compared so
    far and why it ended. The re-run's own error is the one to report: a database that cannot
    take these now is logged."""
    why = one_line(redact_text(f"{type(error).__name__}: {error}".rstrip(": ")), 500)
    try:
        charge_the_day(provider)
        _conclude(subject, subject_id, mode, provider, why, report, actor, ReplayOutcome.FAILED)
    except DatabaseError as failed:
        log.error("a replay's spend ($%s) or its run was not kept: %s", provider.cost, failed)


def charge_the_day(provider: RecordedProvider) -> None:
    """What the live calls spent, added to today's spend once their rows are rolled back."""
    for (agent_slug, lane), (usd, calls) in provider.unledgered.items():
        add_to_todays_spend(agent_slug, lane, usd, calls)
    provider.unledgered.clear()


def _rerun_and_roll_back(rerun, provider) -> str:
    halted = ""
    try:
        with transaction.atomic(), answering(provider):
            outside_the_ledger()  # rolled back whatever happens: spends no day's budget
            if provider.calls and not provider.live:
                first = moment_of(provider.calls[0])
                provider.views = [AS_OF[name](first) for name in AS_OF.names()]
            try:
                rerun(provider)
            except ReplayHalt as halt:
                halted = str(halt)
            raise _Rollback
    except _Rollback:
        pass
    return halted


def _conclude(subject, subject_id, mode, provider, halted, report, actor, failed=None) -> ReplayRun:
    compared = [c.as_json() for c in provider.compared]
    first = next((c for c in compared if c["diverged_on"]), None)
    left = [*provider.passed_over, *((call, "") for call in provider.calls)]
    unused = [{"call": c.id, "purpose": c.purpose, "why": why} for c, why in left]
    skipped = [{"call": c.id, "purpose": c.purpose, "why": why} for c, why in provider.skipped]
    outcome = ReplayOutcome.DIVERGED if first or unused else ReplayOutcome.IDENTICAL
    if failed:
        outcome = failed
    elif provider.missing:
        outcome, report["missing"] = ReplayOutcome.MISSING, provider.missing
    elif halted and "does not have" in halted:
        outcome = ReplayOutcome.DIVERGED
    elif halted:
        outcome = ReplayOutcome.STOPPED
    report |= {"calls": compared, "first_divergence": first, "not_asked": unused}
    report |= {"skipped": skipped}
    report |= {"halted": halted, "cost_usd": str(provider.cost)}
    return _write(subject, subject_id, mode, outcome, report, first, actor, provider.cost)


def _write(subject, subject_id, mode, outcome, report, first, actor, cost=0) -> ReplayRun:
    report["outcome"], report["mode"] = str(outcome), str(mode)
    first_call = LLMCall.objects.filter(pk=first["call"]).first() if first else None
    return ReplayRun.objects.create(
        subject=subject,
        subject_id=subject_id,
        mode=mode,
        outcome=outcome,
        calls=len(report.get("calls", [])),
        diverged_at=first_call,
        cost_usd=cost,
        report=report,
        actor=actor,
    )


def readable(run: ReplayRun) -> str:
    """The report for people: one line per call, then the diffs of those that diverged."""
    report = run.report
    lines = [f"replay of {run.subject} {run.subject_id} ({run.mode}): {run.outcome}"]
    for gone in report.get("missing", []):
        lines.append(f"  missing: call {gone['call']} ({gone['purpose']}): {gone['reason']}")
    for call in report.get("calls", []):
        verdict = ", ".join(call["diverged_on"]) or "same"
        lines.append(f"  #{call['index']} call {call['call']} {call['purpose']}: {verdict}")
        lines += [f"    {line}" for line in call["prompt_diff"].splitlines()]
        lines += [f"    {line}" for line in call["reply_diff"].splitlines()]
        if "decision" in call["diverged_on"]:
            lines.append(f"    decision was: {call['decision_was']}")
            lines.append(f"    decision now: {call['decision_now']}")
    for left in report.get("skipped", []):
        lines.append(f"  not replayed: call {left['call']} ({left['purpose']}): {left['why']}")
    for left in report.get("not_asked", []):
        why = f": {left['why']}" if left.get("why") else ""
        lines.append(f"  not asked any more: call {left['call']} ({left['purpose']}){why}")
    if report.get("halted"):
        lines.append(f"  halted: {report['halted']}")
    spent = report.get("cost_usd", "0")
    counted = "counted in today's LLM budget; " if run.mode == ReplayMode.LIVE else ""
    lines.append(f"  spent ${spent}; {counted}nothing else written to the ledger")
    return "\n".join(lines)
