"""Parallel submissions race for the last quota slots; the gate must never let one too many in."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from missions.models import Proposal, Step
from opscore.actions import set_policy
from tests.factories import AgentFactory, propose

SUBMITTERS = 12


def submit_in_parallel(agents, kind):
    def one(agent):
        try:
            return propose(agent, kind).status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=SUBMITTERS) as pool:
        return list(pool.map(one, agents))


@pytest.mark.django_db(transaction=True)
def test_parallel_submissions_never_exceed_the_content_quota():
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 3}, actor="test")
    agents = [AgentFactory() for _ in range(SUBMITTERS)]

    statuses = submit_in_parallel(agents, "write_content")

    assert statuses.count("accepted") == 3
    assert statuses.count("rejected") == SUBMITTERS - 3
    assert Step.objects.filter(kind="write_content").count() == 3


@pytest.mark.django_db(transaction=True)
def test_parallel_submissions_by_one_agent_never_exceed_its_daily_limit():
    agent = AgentFactory(daily_proposal_limit=5)

    statuses = submit_in_parallel([agent] * SUBMITTERS, "analyze")

    assert statuses.count("accepted") == 5
    assert Proposal.objects.filter(rejection_code="daily_limit").count() == SUBMITTERS - 5


@pytest.mark.django_db(transaction=True)
def test_work_handed_over_locks_the_two_agents_in_one_order_so_crossed_handovers_never_deadlock():
    """X's runtime hands work to Y while Y's hands work to X: each intake locks the proposing
    agent's row, then the payer's (who handed it over). In opposite orders the two waited on each
    other until Postgres killed one (a 500). Both now lock by slug: `ana` first, then `ben`."""
    import threading

    import psycopg

    from missions.actions import submit_proposal
    from tests.processes import database_url, sessions_waiting_on_a_lock, wait_for

    ana = AgentFactory(slug="ana")
    AgentFactory(slug="ben")
    draft = {"agent": "ben", "title": "Check the disk", "steps": [{"kind": "analyze"}]}
    with psycopg.connect(database_url()) as other:
        other.execute("SELECT 1 FROM opscore_agent WHERE slug = 'ana' FOR UPDATE")

        def hand_over():
            try:
                with connection.cursor() as cursor:  # waits as long as the test holds `ana`
                    cursor.execute("SET lock_timeout = 0")
                submit_proposal(draft, source="api", handed_by=ana)
            finally:
                connection.close()

        handing = threading.Thread(target=hand_over)
        handing.start()
        wait_for(lambda: sessions_waiting_on_a_lock("opscore_agent") == 1, timeout=60)
        with psycopg.connect(database_url(), autocommit=True) as third:
            third.execute("SET lock_timeout = '1s'")
            third.execute("SELECT 1 FROM opscore_agent WHERE slug = 'ben' FOR UPDATE")  # free
        other.rollback()
        handing.join(timeout=60)

    assert Proposal.objects.filter(agent="ben", handed_by=ana).count() == 1


def beside_an_intake_for(slug: str, many_proposals) -> list[str]:
    """Run `many_proposals` (one transaction) while an intake for `slug` holds that agent's row
    and, once the transaction waits on it, asks for the write_content gate, as that intake's
    next step: the errors either side saw (the database's deadlock victim), none when the
    transaction took the gate only after every agent it proposes for."""
    import threading

    import psycopg

    from tests.processes import database_url, sessions_waiting_on_a_lock, wait_for

    errors = []

    def run():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
            many_proposals()
        except Exception as error:
            errors.append(repr(error))
        finally:
            connection.close()

    with psycopg.connect(database_url()) as intake:
        intake.execute("SELECT 1 FROM opscore_agent WHERE slug = %s FOR UPDATE", [slug])
        running = threading.Thread(target=run)
        running.start()
        wait_for(lambda: sessions_waiting_on_a_lock("opscore_agent") == 1, timeout=60)
        intake.execute("SET lock_timeout = '10s'")
        try:
            intake.execute("SELECT pg_advisory_xact_lock(hashtext('opscore.gate.write_content'))")
        except psycopg.Error as error:
            errors.append(repr(error))
        intake.rollback()
        running.join(timeout=60)
    return errors


@pytest.mark.django_db(transaction=True)
def test_the_trigger_pass_locks_its_agents_before_any_gate_so_an_intake_beside_it_never_deadlocks():
    """The pass locked each rule's agent as it fired: `ana`'s, then the write_content gate for
    her draft, then `ben`'s. An intake for ben beside it (ben's row, then the same gate) waited
    on the pass while the pass waited on it, until Postgres killed one (a 500, or a lost beat).
    The pass now locks its rules' agents first, in one order, and the gates after."""
    import random

    from missions import loop
    from missions.models import TriggerRule
    from opscore.models import Event

    for slug in ("ana", "ben"):
        AgentFactory(slug=slug)
        TriggerRule.objects.create(
            name=f"draft-{slug}",
            trigger_event="mission_failed",
            cooldown_minutes=0,
            action_config={"target_agent": slug, "step_kinds": ["write_content"]},
        )
    Event.objects.create(kind="mission.failed", title="M1 failed", tags=["mission_failed"])

    errors = beside_an_intake_for("ben", lambda: loop.evaluate_triggers(10**9, random.Random(0)))

    assert errors == []
    assert Proposal.objects.filter(source="trigger", status="accepted").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_distillation_locks_its_agents_before_any_gate_so_an_intake_beside_it_never_deadlocks(
    crew,
):
    """A war room's action items went in one by one in one transaction: coordinator's row,
    the write_content gate for its item, then devops's row, which an intake beside it held
    while it waited on that gate. Postgres killed one: the distillation (its memories, drifts
    and items with it) or the person's request."""
    from roundtable.distillation import Distillation, apply_distillation
    from roundtable.lifecycle import request_conversation

    people = ["coordinator", "devops", "security"]
    room = request_conversation("war_room", people, "outage", source="schedule")
    actions = [
        {"agent": slug, "title": f"Write up the outage for {slug}", "step_kind": "write_content"}
        for slug in ("coordinator", "devops")
    ]
    items = Distillation(memories=[], pairwise_drift=[], action_items=actions)

    errors = beside_an_intake_for("devops", lambda: apply_distillation(room, items))

    assert errors == []
    assert Proposal.objects.filter(source="conversation").count() == 2


def holding_the_gate_while(approving, contend) -> None:
    """`approving` is approved in a thread that stops after its steps are made, before its
    commit, holding its gate; `contend()` runs in a second thread (a second transaction),
    which must wait for that gate: counting without it, it saw a slot the first had taken."""
    import threading

    from missions import decisions
    from missions.decisions import approve_proposal
    from tests.processes import sessions_waiting_on_a_lock, wait_for

    holding, release = threading.Event(), threading.Event()
    made = decisions.start_mission

    def start_then_hold(proposal, **kwargs):
        steps = made(proposal, **kwargs)
        holding.set()
        release.wait(timeout=60)
        return steps

    def in_thread(work):
        def run():
            try:
                work()
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    decisions.start_mission = start_then_hold
    try:
        first = in_thread(lambda: approve_proposal(approving, actor="operator:ann"))
        assert holding.wait(timeout=60)
        decisions.start_mission = made
        second = in_thread(contend)
        try:
            wait_for(lambda: sessions_waiting_on_a_lock("pg_advisory_xact_lock") == 1)
        finally:
            release.set()
            first.join(timeout=60)
            second.join(timeout=60)
    finally:
        decisions.start_mission = made


def deploy_approval(agent):
    from missions.decisions import approve_proposal

    waiting = propose(agent, "deploy")
    return lambda: approve_proposal(waiting, actor="operator:bob")


def deploy_retry(agent):
    from missions.step_actions import retry_step
    from tests.factories import make_step

    failed = make_step("deploy", agent=agent)
    failed.finish("failed", "the target was down")
    return lambda: retry_step(failed, actor="operator:bob")


def revived_deploy(agent):
    """A retry of a noop step whose death cancelled the deploy waiting for it."""
    from missions.models import StepDependency
    from missions.step_actions import dead_letter_step, retry_step
    from tests.factories import make_step

    first = make_step("noop", agent=agent)
    deploy = Step.objects.create(mission=first.mission, kind="deploy", agent=agent, position=1)
    StepDependency.objects.create(step=deploy, depends_on=first)
    dead_letter_step(first, actor="operator:bob", reason="worker died")
    return lambda: retry_step(first, actor="operator:bob")


@pytest.mark.parametrize("contender", [deploy_approval, deploy_retry, revived_deploy])
@pytest.mark.django_db(transaction=True)
def test_work_racing_an_approval_for_the_last_slot_waits_for_its_gate_and_is_refused(contender):
    """Every path that admits work counting toward a quota takes the kind's gate before it
    counts: a person's approval, a retry, and the steps a retry brings back with it."""
    set_policy("deploy_policy", {"enabled": True, "max_per_day": 1}, actor="test")
    ana, ben = AgentFactory(slug="ana"), AgentFactory(slug="ben", max_concurrent_steps=10)
    contend = contender(ben)
    approving = propose(ana, "deploy")

    holding_the_gate_while(approving, lambda: _swallow_refusal(contend))

    assert Proposal.objects.get(pk=approving.pk).status == "accepted"
    assert Step.objects.filter(kind="deploy").in_todays_quota().count() == 1


def _swallow_refusal(contend) -> None:
    from contextlib import suppress

    from missions.actions import DecisionRefused

    with suppress(DecisionRefused):  # a retry refused: the assertions read what was admitted
        contend()
