"""Closing the loop: trigger rules and the reaction matrix turn events and conditions into new
proposals — always through the single intake, so quotas and gates still hold."""

import hashlib
import json
import random
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import BooleanField, Case, DurationField, ExpressionWrapper, F, Q, Value, When
from django.db.models.functions import Now

from missions.actions import IntakePass, lock_agents, submit_proposal
from missions.checkers import (
    CHECKERS,
    READS_EVENTS,
    READS_WINDOWS,
    Beat,
    Idea,
    latest_event,
    rule_problem,
)
from missions.models import (
    LoopCursor,
    Proposal,
    ProposalSource,
    Reaction,
    ReactionStatus,
    TriggerRule,
    TriggerSkip,
)
from missions.models.proposals import proposed_work
from missions.override_kinds import SYSTEM, pair_of
from missions.schemas import ProposalDraft, ProposalInvalid
from opscore.actions import record_cap_hit
from opscore.db import oldest_unlocked
from opscore.models import Agent, Event, Policy
from opscore.models.policies import policy_snapshot
from opscore.overrides import in_force, in_force_by_target

rng = random.Random()  # tests pass their own seeded RNG


def _minute():

    return timedelta(minutes=1)


def fire_rule(rule: TriggerRule, idea: Idea, beat: Beat) -> dict:
    config = rule.action_config
    delay = 0
    if rule.proactive and rule.jitter_max_minutes:
        delay = beat.rand.randint(rule.jitter_min_minutes * 60, rule.jitter_max_minutes * 60)
    kinds = config.get("step_kinds") or ["analyze"]
    data = {
        "agent": config["target_agent"],
        "title": idea.title[:200],
        "steps": [
            {"kind": kind, "payload": idea.payload, "delay_seconds": delay} for kind in kinds
        ],
    }
    done = _answered(idea, beat).get(proposed_work(data["agent"], kinds))
    if done:
        beat.fired[rule] = idea.seen_event_id or rule.last_seen_event_id
        return {"rule": rule.name, "outcome": "skipped", "reason": duplicate_of(done)}
    try:  # checked before the pass's transaction is touched: a bad draft fails its rule alone
        draft = ProposalDraft.parse(data)
    except ProposalInvalid as invalid:
        return {"rule": rule.name, "outcome": "failed", "reason": f"broken rule: {invalid}"}
    result = submit_proposal(
        draft,
        source=ProposalSource.TRIGGER,
        cause_event=idea.cause_event,
        cause_ref=f"trigger_rule:{rule.id}",
        context=idea.context,
        untrusted_reason=idea.untrusted,
        savepoint=False,  # the pass fails as a whole: its heartbeat duty is one transaction
        within=beat.intake,
    )
    beat.fired[rule] = idea.seen_event_id or rule.last_seen_event_id
    proposal = result.proposal
    _answered(idea, beat)[proposed_work(data["agent"], kinds)] = proposal.id
    return {
        "rule": rule.name,
        "outcome": "fired",
        "proposal": proposal.id,
        "status": proposal.status,
        "delay_seconds": delay,
    } | idea.context


def _answered(idea: Idea, beat: Beat) -> dict[tuple, int]:
    """The work already proposed for the idea's cause event, read once a pass per event."""
    if idea.cause_event is None:
        return {}
    event = idea.cause_event
    return beat.once(
        ("answered", event.id), Proposal.objects.filter(cause_event=event).work_proposed
    )


def duplicate_of(proposal_id: int) -> str:
    return f"duplicate: proposal {proposal_id} already answers this event for this agent"


def evaluate_triggers(deadline: float, rand=None) -> dict:
    """Cooldowns first (no query per rule), then checkers until the budget runs out; the rest
    wait, first in line next beat. The cost follows the rules that could fire: each checker
    reads for all its rules at once (Beat), pause overrides and policies are read once a
    pass, each agent is locked and counted once, and the rules fired and evaluated are
    stamped in one UPDATE each, the proposals' events in one INSERT. One transaction: what
    the pass keeps in memory (the locks it holds, the counts, the events) is true only inside
    it."""
    rules, broken = _enabled_and_broken()
    live = [r for r in rules if not r.cooling and r.pk not in broken]
    beat = Beat(rand or rng, rules=live, intake=IntakePass(events=[]))
    results, evaluated = [], []
    with transaction.atomic(savepoint=False), policy_snapshot():
        lock_agents({rule.action_config["target_agent"] for rule in live}, beat.intake)
        for rule in rules:
            if rule.pk in broken:
                results.append({"rule": rule.name, "outcome": "failed", "reason": broken[rule.pk]})
            elif rule.cooling:
                results.append({"rule": rule.name, "outcome": "skipped", "reason": "cooldown"})
            elif time.monotonic() > deadline:
                results.append({"rule": rule.name, "outcome": "deferred", "reason": "budget"})
            else:
                evaluated.append(rule.pk)
                results.append(_evaluate(rule, beat))
        record_fires(beat)
        beat.intake.store_events()
        TriggerRule.objects.filter(pk__in=evaluated).update(last_evaluated_at=Now())
    counts = {
        k: sum(r["outcome"] == k for r in results)
        for k in ("fired", "evaluated", "skipped", "deferred", "failed")
    }
    return counts | {"rules": results}


def drop_triggers(why: str) -> dict:
    """The triggers lane paused in drop mode: every enabled rule that answers what arrives —
    cooling or not, its rule paused or not — refuses it with a TriggerSkip row, so the lift
    does not answer the pause's arrivals late. A rule that answers events refuses the newest
    it has not seen, and its cursor moves past it; one that answers a window (published,
    measured since it last fired) refuses what its checker would answer, and the window's
    start moves to now. Proactive rules have nothing arriving to refuse: they simply do not
    fire until the lift."""
    reads = {*READS_EVENTS.names(), *READS_WINDOWS.names()}
    enabled, broken = _enabled_and_broken()
    rules = [r for r in enabled if r.trigger_event in reads and r.pk not in broken]
    beat = Beat(rng, rules=rules)
    skips = [skip for rule in rules if (skip := _drop_arrived(rule, beat, f"dropped: {why}"))]
    return {
        "dropped": len(skips),
        "events": [s.event_id for s in skips if s.event_id],
        "rows": [s.skipped for s in skips if not s.event_id],
    }


def _drop_arrived(rule: TriggerRule, beat: Beat, reason: str) -> TriggerSkip | None:
    if rule.trigger_event in READS_EVENTS:
        event = latest_event(rule, beat, READS_EVENTS[rule.trigger_event])
        return rule.drop_through(event, reason) if event is not None else None
    row = READS_WINDOWS[rule.trigger_event](rule, beat)
    return rule.drop_window(row, reason) if row is not None else None


def record_fires(beat: Beat) -> None:
    """Write back the rules the pass fired, in one UPDATE: each fired once at most, so its
    count and topic move by one; its event cursor moves to what it saw (the CASE names only
    the rules whose cursor moved, grouped by the event they saw)."""
    if not beat.fired:
        return
    moved: dict[int, list[int]] = {}
    for rule, seen in beat.fired.items():
        if seen != rule.last_seen_event_id:
            moved.setdefault(seen, []).append(rule.pk)
    rotating = [rule.pk for rule in beat.fired if rule.topics]
    TriggerRule.objects.filter(pk__in=[rule.pk for rule in beat.fired]).update(
        fire_count=F("fire_count") + 1,
        last_fired_at=Now(),
        topic_position=F("topic_position") + Case(When(pk__in=rotating, then=1), default=0),
        last_seen_event_id=Case(
            *(When(pk__in=pks, then=Value(seen)) for seen, pks in moved.items()),
            default=F("last_seen_event_id"),
            output_field=TriggerRule._meta.get_field("last_seen_event_id"),
        ),
    )
    beat.fired.clear()


def _enabled_rules():
    """Least recently evaluated first, each marked `cooling` by the database clock."""
    cooldown = ExpressionWrapper(F("cooldown_minutes") * _minute(), output_field=DurationField())
    cooling = Q(last_fired_at__isnull=False, last_fired_at__gt=Now() - cooldown)
    return (
        TriggerRule.objects.filter(enabled=True)
        .annotate(cooling=ExpressionWrapper(cooling, output_field=BooleanField()))
        .order_by(F("last_evaluated_at").asc(nulls_first=True), "id")
    )


def _enabled_and_broken() -> tuple[list[TriggerRule], dict[int, str]]:
    """The enabled rules, and why each one saved broken cannot be evaluated (rule id → reason):
    it fails alone, with its reason, and is no peer of the rules its checker reads for."""
    rules = list(_enabled_rules())
    agents = set(Agent.objects.values_list("slug", flat=True))
    problems = {rule.pk: rule_problem(rule, agents.__contains__) for rule in rules}
    return rules, {pk: why for pk, why in problems.items() if why}


def _evaluate(rule: TriggerRule, beat: Beat) -> dict:
    paused = beat.once("pause_rule", lambda: in_force_by_target("pause_rule")).get(rule.name)
    if paused is not None:
        reason = f"paused by override {paused.id}: {paused.reason}"
        return {"rule": rule.name, "outcome": "skipped", "reason": reason}
    if rule.proactive and beat.rand.random() < rule.skip_probability:
        return {"rule": rule.name, "outcome": "skipped", "reason": "not feeling like it today"}
    check = CHECKERS.get(rule.trigger_event)
    if check is None:
        return {
            "rule": rule.name,
            "outcome": "skipped",
            "reason": f"no checker named {rule.trigger_event!r}",
        }
    idea = check(rule, beat)
    if idea is None:
        return {"rule": rule.name, "outcome": "evaluated", "reason": "not now"}
    paused = _pair_paused(rule, idea, beat)
    if paused is not None:
        reason = f"paused by override {paused.id}: {paused.reason}"
        rule.drop_through(idea.cause_event, reason)
        return {"rule": rule.name, "outcome": "skipped", "reason": reason}
    return fire_rule(rule, idea, beat)


def _pair_paused(rule: TriggerRule, idea: Idea, beat: Beat):
    """The pause of the pair (the cause event's writer → the rule's agent) in force, or None.
    The runaway detector counts trigger work as a loop's evidence and pauses its pair: the
    rule refuses that event for good (a TriggerSkip), as a reaction to it would be skipped."""
    if idea.cause_event is None:
        return None
    pairs = beat.once("pause_pair", lambda: in_force_by_target("pause_pair"))
    writer = idea.cause_event.agent_id or SYSTEM
    return pairs.get(pair_of(rule.action_config["target_agent"], writer))


def pattern_key(pattern: dict) -> str:
    return hashlib.sha256(json.dumps(pattern, sort_keys=True).encode()).hexdigest()[:16]


MATCH_BATCH = 500


@transaction.atomic
def match_reactions(rand=None) -> dict:
    """Read new events (by cursor, in log order: Event.objects.after) against the reaction
    matrix; each match becomes a Reaction row, queued if its probability roll and cooldown
    pass, otherwise skipped with the reason. A pass that stops at MATCH_BATCH with events left
    says so (record_cap_hit); the next goes on from its cursor."""
    rand = rand or rng
    cursor, _ = LoopCursor.objects.select_for_update().get_or_create(name="reactions")
    events = list(Event.objects.after(cursor.position)[:MATCH_BATCH])
    patterns = distinct_patterns(Policy.objects.value("reaction_matrix").patterns)
    counts = {"events": len(events), "queued": 0, "skipped": 0}
    for event in events:
        for pattern in patterns:
            if not _matches(pattern, event):
                continue
            status, reason = _roll(pattern, rand)
            Reaction.objects.create(
                source_event=event,
                pattern_key=pattern_key(pattern.model_dump()),
                pattern=pattern.model_dump(),
                target_agent=pattern.target,
                reaction_type=pattern.type,
                status=status,
                reason=reason,
            )
            counts[status] += 1
    if events:
        cursor.position = events[-1].id
        cursor.save()
    return counts | _cap_hit(len(events), cursor.position)


def _cap_hit(read: int, position: int) -> dict:
    """The events a capped pass left, in a `sweep.capped` row (which _matches never reacts to)
    and in the pass's counts; nothing for a pass that read everything."""
    waiting = Event.objects.after(position).count() if read >= MATCH_BATCH else 0
    if not waiting:
        return {}
    record_cap_hit("match_reactions", MATCH_BATCH, waiting, actor="system:heartbeat")
    return {"waiting": waiting}


def distinct_patterns(patterns: list) -> list:
    """Each pattern once: a matrix stored with one pattern twice (before saving refused it)
    would insert its reaction twice per event, a unique violation that stopped the lane."""
    return list({pattern_key(p.model_dump()): p for p in patterns}.values())


def _matches(pattern, event: Event) -> bool:
    """A sweep's own row (a loop capped, this one included) is bookkeeping, not company
    activity: a pattern reacting to it would feed on the matcher's own cap rows."""
    if event.kind.startswith("sweep."):
        return False
    if pattern.source != "*" and pattern.source != event.agent_id:
        return False
    return set(pattern.tags) <= set(event.tags)


def _roll(pattern, rand) -> tuple[str, str]:
    roll = rand.random()
    if roll >= pattern.probability:
        return ReactionStatus.SKIPPED, f"probability roll {roll:.2f} ≥ {pattern.probability}"
    recent = Reaction.objects.filter(
        pattern_key=pattern_key(pattern.model_dump()),
        status__in=["queued", "processed"],
        created_at__gt=Now() - pattern.cooldown * _minute(),
    )
    if recent.exists():
        return ReactionStatus.SKIPPED, f"cooldown {pattern.cooldown} min"
    return ReactionStatus.QUEUED, ""


def process_reactions(deadline: float) -> dict:
    """Queued reactions become proposals through the intake (source `reaction`)."""
    counts = {"processed": 0, "deferred": 0}
    while True:
        if time.monotonic() > deadline:
            counts["deferred"] = Reaction.objects.filter(status=ReactionStatus.QUEUED).count()
            return counts
        with transaction.atomic():
            reaction = oldest_unlocked(Reaction.objects.filter(status=ReactionStatus.QUEUED))
            if reaction is None:
                return counts
            _propose(reaction)
            counts["processed"] += 1


def _propose(reaction: Reaction) -> None:
    event = reaction.source_event
    paused = in_force("pause_pair", pair_of(reaction.target_agent, event.agent_id or SYSTEM))
    if paused is not None:
        reaction.status = ReactionStatus.SKIPPED
        reaction.reason = f"paused by override {paused.id}: {paused.reason}"[:300]
    elif not Agent.objects.filter(slug=reaction.target_agent).exists():
        reaction.status, reaction.reason = ReactionStatus.SKIPPED, "target agent does not exist"
    else:
        _submit(reaction, event)
    reaction.processed_at = Now()
    reaction.save()


def _submit(reaction: Reaction, event: Event) -> None:
    """A proposal for the reaction, or — when a trigger rule or another pattern already
    proposed the same work for the same agent and event — a skip naming that proposal."""
    work = proposed_work(reaction.target_agent, ["analyze"])
    done = Proposal.objects.filter(cause_event=event).work_proposed().get(work)
    if done:
        reaction.status, reaction.reason = ReactionStatus.SKIPPED, duplicate_of(done)
        reaction.proposal_id = done
        return
    payload = {"reaction": reaction.reaction_type, "topic": event.title, "event_id": event.id}
    data = {
        "agent": reaction.target_agent,
        "title": f"{reaction.reaction_type.title()}: {event.title}"[:200],
        "steps": [{"kind": "analyze", "payload": payload}],
    }
    result = submit_proposal(
        data,
        source=ProposalSource.REACTION,
        cause_event=event,
        cause_ref=f"reaction:{reaction.id}",
    )
    reaction.proposal = result.proposal
    reaction.status = ReactionStatus.PROCESSED
    reaction.reason = result.proposal.reason or result.proposal.status
