"""A heartbeat's trigger pass costs what could fire, not how many rules there are: each checker
reads once for all its rules, yet every rule keeps its own cursor, conditions and pause."""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from missions import loop
from missions.actions import submit_proposal
from missions.models import Proposal, ProposalSource, Publication, Step, TriggerRule
from opscore.actions import set_policy
from opscore.models import Event, Policy
from opscore.models.policies import policy_snapshot
from opscore.overrides import apply_override
from opscore.standing_orders import db_now
from tests.factories import AgentFactory, make_publication, propose

pytestmark = pytest.mark.django_db
FAR = 10**9  # a deadline that never passes
CHECKERS = ("mission_failed", "insight_promoted", "content_published", "tweet_high_engagement")


# Rules answering one event for one agent must ask for different work, or the second is a
# duplicate (test_loop_duplicates): each rule of a test here gets its own step kinds.
WORK = (["analyze"], ["noop"], ["analyze", "noop"], ["noop", "analyze"])


def rule(name, trigger_event, **fields):
    fields.setdefault("action_config", {"target_agent": "devops"})
    config = fields["action_config"]
    peers = TriggerRule.objects.filter(action_config__target_agent=config["target_agent"])
    config.setdefault("step_kinds", WORK[peers.count() % len(WORK)])
    return TriggerRule.objects.create(
        name=name, trigger_event=trigger_event, cooldown_minutes=0, **fields
    )


def failure(title):
    return Event.objects.create(kind="mission.failed", title=title, tags=["mission_failed"])


def outcomes(result) -> dict:
    return {r["rule"]: r["outcome"] for r in result["rules"]}


def test_rules_of_one_checker_each_keep_their_own_event_cursor(agent):
    first, latest = failure("M1 failed"), failure("M2 failed")
    rule("never-saw", "mission_failed")
    rule("saw-first", "mission_failed", last_seen_event_id=first.id)
    rule("saw-all", "mission_failed", last_seen_event_id=latest.id)

    result = loop.evaluate_triggers(FAR, random.Random(0))

    assert outcomes(result) == {"never-saw": "fired", "saw-first": "fired", "saw-all": "evaluated"}
    causes = Proposal.objects.values_list("cause_ref", "cause_event__title")
    assert {title for _, title in causes} == {"M2 failed"}
    assert set(TriggerRule.objects.values_list("last_seen_event_id", flat=True)) == {latest.id}


def test_rules_of_one_checker_each_keep_their_own_last_fire_and_conditions(agent):
    post = make_publication(agent, "Launch notes", impressions=100, engagements=10)
    Publication.objects.filter(pk=post.pk).update(published_at=db_now() - timedelta(minutes=10))
    rule("never-fired", "content_published")
    rule("fired-before", "content_published", last_fired_at=db_now() - timedelta(minutes=15))
    rule("fired-since", "content_published", last_fired_at=db_now() - timedelta(minutes=5))
    rule("low-bar", "tweet_high_engagement", conditions={"min_engagement_rate": 0.05})
    rule("high-bar", "tweet_high_engagement", conditions={"min_engagement_rate": 0.5})

    result = loop.evaluate_triggers(FAR, random.Random(0))

    assert outcomes(result) == {
        "never-fired": "fired",
        "fired-before": "fired",
        "fired-since": "evaluated",
        "low-bar": "fired",
        "high-bar": "evaluated",
    }
    titles = set(Proposal.objects.filter(source="trigger").values_list("title", flat=True))
    assert titles == {
        "Review what we published: Launch notes",
        f"Why did {post.external_id} do well (10.0%)?",
    }


def test_a_paused_rule_is_skipped_with_its_reason_while_its_neighbours_fire(agent):
    failure("M1 failed")
    rule("held", "mission_failed")
    rule("free", "mission_failed")
    row = apply_override("pause_rule", "held", reason="too chatty", actor="operator:ann")

    result = loop.evaluate_triggers(FAR, random.Random(0))

    held = next(r for r in result["rules"] if r["rule"] == "held")
    assert held == {
        "rule": "held",
        "outcome": "skipped",
        "reason": f"paused by override {row.id}: too chatty",
    }
    assert outcomes(result)["free"] == "fired"
    assert (
        Proposal.objects.get().cause_ref
        == f"trigger_rule:{TriggerRule.objects.get(name='free').id}"
    )


def quiet_rules(per_checker: int, start: int, latest: int) -> None:
    """Rules of every built-in checker with nothing new to see: each is evaluated, none fires."""
    for checker in CHECKERS:
        for n in range(start, start + per_checker):
            rule(f"{checker}-{n}", checker, last_seen_event_id=latest)


def queries_in_a_pass() -> int:
    with CaptureQueriesContext(connection) as queries:
        result = loop.evaluate_triggers(FAR, random.Random(0))
    assert result["fired"] == 0 and result["evaluated"] == TriggerRule.objects.count()
    return len(queries)


def test_the_queries_of_a_pass_do_not_grow_with_the_rules_of_one_checker(agent):
    latest = failure("old news").id
    quiet_rules(1, start=0, latest=latest)
    with_one_each = queries_in_a_pass()
    quiet_rules(9, start=1, latest=latest)

    assert queries_in_a_pass() == with_one_each


def test_a_pass_reads_each_policy_once_however_many_rules_fire(agent):
    failure("M1 failed")
    for n in range(3):
        rule(f"diag-{n}", "mission_failed")

    with CaptureQueriesContext(connection) as queries:
        result = loop.evaluate_triggers(FAR, random.Random(0))

    assert result["fired"] == 3
    policy_reads = [q["sql"] for q in queries if 'FROM "opscore_policy"' in q["sql"]]
    assert policy_reads and len(policy_reads) == len(set(policy_reads))


def test_a_policy_changed_inside_a_pass_is_read_anew(db):
    with policy_snapshot():
        assert Policy.objects.value("goal_preference").enabled is False
        set_policy("goal_preference", {"enabled": True, "reserved_slots": 2}, actor="t")

        assert Policy.objects.value("goal_preference").enabled is True


def test_an_auto_approved_proposal_answers_with_its_stored_decision(agent):
    result = submit_proposal(
        {"agent": "devops", "title": "Tidy", "steps": [{"kind": "noop"}]},
        source=ProposalSource.API,
    )

    stored = Proposal.objects.get()
    assert (stored.status, stored.decided_by) == ("accepted", "system:auto_approve")
    assert result.proposal.decided_at == stored.decided_at >= stored.created_at
    steps = Step.objects.of_proposal(stored)
    assert result.as_json()["step_ids"] == [s.id for s in steps] and len(steps) == 1


def statements_of(result_queries) -> dict:
    sqls = [q["sql"] for q in result_queries]
    return {
        "inserts": sum(s.startswith("INSERT") for s in sqls),
        "others": sum(not s.startswith("INSERT") for s in sqls),
        "agent locks": sum('FROM "opscore_agent"' in s and "FOR UPDATE" in s for s in sqls),
        "daily counts": sum(
            s.startswith("SELECT COUNT") and "missions_proposal" in s for s in sqls
        ),
        "rule updates": sum(s.startswith('UPDATE "missions_triggerrule"') for s in sqls),
    }


def a_pass(fires: int) -> dict:
    """A pass in which `fires` rules see a new failure and fire, all for the same agent."""
    failure(f"failure before {fires} fires")
    for n in range(TriggerRule.objects.count(), fires):
        rule(f"diag-{n}", "mission_failed")
    with CaptureQueriesContext(connection) as queries:
        result = loop.evaluate_triggers(FAR, random.Random(0))
    assert result["fired"] == fires
    return statements_of(queries)


def test_a_fire_costs_only_its_own_rows_the_agent_is_locked_and_counted_once_a_pass(agent):
    one, four = a_pass(1), a_pass(4)

    per_fire = (four["inserts"] - one["inserts"]) / 3
    assert per_fire == 3  # its proposal, mission and steps; the pass's events in one INSERT
    assert four["others"] == one["others"]
    for pass_ in (one, four):
        assert pass_["agent locks"] == pass_["daily counts"] == 1
        assert pass_["rule updates"] == 2  # the fires, then the evaluation stamps


def test_every_agent_of_a_pass_is_locked_and_counted_once(agent):
    AgentFactory(slug="research")
    failure("M1 failed")
    for n in range(3):
        rule(f"devops-{n}", "mission_failed")
        rule(f"research-{n}", "mission_failed", action_config={"target_agent": "research"})

    with CaptureQueriesContext(connection) as queries:
        result = loop.evaluate_triggers(FAR, random.Random(0))

    assert result["fired"] == 6
    # both in one statement, in one order (test_intake_concurrency), each counted once
    assert (statements_of(queries)["agent locks"], statements_of(queries)["daily counts"]) == (1, 2)
    assert Proposal.objects.filter(status="accepted").count() == 6


def test_the_daily_limit_refuses_at_its_exact_boundary_within_one_pass(agent, clock):
    clock.midday()  # the proposal spent before the pass is today's when the pass counts
    agent.daily_proposal_limit = 3
    agent.save()
    propose(agent, "noop")  # one spent before the pass
    failure("M1 failed")
    for n in range(4):
        rule(f"diag-{n}", "mission_failed")

    loop.evaluate_triggers(FAR, random.Random(0))

    fired = Proposal.objects.filter(source="trigger").order_by("id")
    assert [p.status for p in fired] == ["accepted", "accepted", "rejected", "rejected"]
    assert {p.reason for p in fired if p.status == "rejected"} == {
        "Daily proposal limit reached (3/3)"
    }
    assert Proposal.objects.created_today().counting_toward_daily_limit().count() == 3
    events = Event.objects.filter(proposal__source="trigger").order_by("id")
    assert [(e.kind, e.proposal_id) for e in events] == [
        (f"proposal.{p.status}", p.id) for p in fired
    ]


def test_a_rule_fired_in_a_pass_moves_its_count_topic_and_cursor_once(agent):
    latest = failure("M1 failed")
    diag = rule("diag", "mission_failed", topics=["a", "b"])
    quiet = rule("quiet", "mission_failed", last_seen_event_id=latest.id)

    loop.evaluate_triggers(FAR, random.Random(0))

    diag.refresh_from_db()
    quiet.refresh_from_db()
    assert (diag.fire_count, diag.topic_position, diag.last_seen_event_id) == (1, 1, latest.id)
    assert diag.last_fired_at is not None and diag.last_evaluated_at is not None
    assert (quiet.fire_count, quiet.topic_position, quiet.last_fired_at) == (0, 0, None)
    assert quiet.last_evaluated_at is not None
