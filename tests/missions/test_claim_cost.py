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
