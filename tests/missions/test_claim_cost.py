"""What one step costs the worker: counts (round trips, ORM queries), never times. A worker's
loop pays one round trip per noop step; the claimed step is a real Step; the success event is
written by the completion itself."""

from unittest import mock

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from missions.execution import _array_literal, claim_next_step, record_outcome
from missions.executors import Succeeded
from missions.models import Step
from missions.worker import work_through
from opscore.models import Event
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db


def test_a_noop_step_costs_the_worker_one_round_trip_and_no_orm_query(monkeypatch):
    from missions import staleness

    agent = AgentFactory(slug="devops", max_concurrent_steps=10)
    steps = [make_step(agent=agent) for _ in range(3)]
    step = work_through(claim_next_step("w1"), "w1")  # warm: policy caches, prepared plans
    # The recovery policy is re-read every few seconds by the clock: a slow or loaded machine
    # must not turn that into a query counted here (the count is the test, never the time).
    monkeypatch.setattr(staleness, "REREAD_SECONDS", float("inf"))

    sent = []
    execute = psycopg.Cursor.execute

    def counted(cursor, query, *args, **kwargs):  # the driver: every statement sent
        sent.append(query)
        return execute(cursor, query, *args, **kwargs)

    driver = mock.patch.object(psycopg.Cursor, "execute", counted)
    with CaptureQueriesContext(connection) as orm, driver:
        step = work_through(work_through(step, "w1"), "w1")

    assert step is None
    assert (len(orm.captured_queries), len(sent)) == (0, 2)
    assert Step.objects.filter(pk__in=[s.pk for s in steps], status="succeeded").count() == 3


def test_a_success_event_names_the_worker_whose_attempt_it_was():
    step = make_step()
    claimed = claim_next_step("w7")

    assert record_outcome(claimed.id, claimed.lease_token, Succeeded({"ok": True}))

    event = Event.objects.get(kind="step.succeeded", step_id=step.id)
    assert (event.actor, event.title, event.mission_id) == (
        "worker:w7",
        f"S{step.id} noop succeeded",
        step.mission_id,
    )
    assert event.tags == ["step", "succeeded", "noop"]


def test_a_claimed_step_is_a_full_step_with_the_rest_loaded_on_demand():
    step = make_step(payload={"topic": "x"}, priority=300)

    claimed = claim_next_step("w1")

    assert (claimed.pk, claimed.payload, claimed.priority, claimed.mission_id) == (
        step.pk,
        {"topic": "x"},
        300,
        step.mission_id,
    )
    assert not claimed._state.adding and claimed.mission == step.mission
    assert "result" in claimed.get_deferred_fields()
    assert (claimed.result, claimed.finished_at) == (None, None)  # loaded when first read
    claimed.priority = 400
    claimed.save(update_fields=["priority"])
    assert Step.objects.get(pk=step.pk).priority == 400


@pytest.mark.parametrize("kinds", [[], ["dev.code_change"], ['we"ird', "back\\slash", "a,b"]])
def test_internal_kinds_reach_the_database_as_the_same_list(kinds):
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [_array_literal(tuple(kinds))])
        assert cursor.fetchone()[0] == kinds


def rows_read() -> dict[str, int]:
    """What this transaction has read so far, table by table: index probes plus rows fetched."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, coalesce(idx_scan, 0) + coalesce(idx_tup_fetch, 0) + seq_tup_read "
            "FROM pg_stat_xact_user_tables "
            "WHERE relname IN ('missions_step', 'missions_stepdependency')"
        )
        return dict(cursor.fetchall())


def test_a_claim_reads_the_dependencies_of_the_steps_it_looks_at_not_every_one_in_history():
    """With a backlog and a long history, the planner preferred to gather every unfinished
    dependency in history once per claim (an anti-join over all of them) to looking up each
    candidate's own: here one claim read 209 dependency rows and 20,000 finished steps, and a
    claim cost more the more work had ever run (4.5 ms at 200 past dependencies in
    bench/execution.py's database). A claim reads only the rows of the steps it looks at."""
    from missions.models import Step

    agents = [AgentFactory(slug=f"a{n}", max_concurrent_steps=100) for n in range(4)]
    history = make_step(agent=agents[0], status="succeeded").mission
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO missions_step (mission_id, position, kind, payload, status, agent_id,
                   priority, run_after, lease_owner, attempt_count, max_attempts, last_error,
                   blocked_reason, blocked_code, result, approved_digest, created_at,
                   updated_at, finished_at)
               SELECT %s, g, 'noop', '{}', 'succeeded', 'a0', 100, now(), '', 1, 3, '', '', '',
                      '{}', '', now(), now(), now()
               FROM generate_series(1, 20000) g""",
            [history.id],
        )
        cursor.execute(
            """INSERT INTO missions_stepdependency (step_id, depends_on_id)
               SELECT id + 1, id FROM missions_step WHERE mission_id = %s ORDER BY id LIMIT 200""",
            [history.id],
        )
    backlog = [make_step(agent=agents[n % 4]) for n in range(200)]
    Step.objects.bulk_create(
        Step(mission=step.mission, kind="noop", agent=step.agent, position=1 + n)
        for step in backlog
        for n in range(4)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    before = rows_read()

    claimed = claim_next_step("w1")

    after = rows_read()
    assert claimed.pk == backlog[0].pk
    looks = 2 * 8  # a claim looks at up to eight candidates, in two passes at most
    assert after["missions_stepdependency"] - before["missions_stepdependency"] <= looks
    assert after["missions_step"] - before["missions_step"] <= 4 * looks
