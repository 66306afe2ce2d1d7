"""The blocker sweep checks a capped batch a call: it rotates through every blocked step, so
steps that never clear cannot hide a newer one whose blocker did, and a cut-short pass leaves
a row saying how many waited."""

import pytest

from missions.executors import EXECUTORS, Succeeded
from missions.models import Step
from missions.recovery import requeue_cleared_blockers
from opscore.models import Event
from tests.factories import make_step

pytestmark = pytest.mark.django_db


def blocked_without_executor(kind):
    step = make_step(kind)
    step.block(f"no executor for {kind}", code="no_executor")
    return step


def test_it_reaches_a_newer_cleared_step_behind_a_full_batch_of_stuck_ones(monkeypatch):
    for _ in range(3):
        blocked_without_executor("never_installed")
    newest = blocked_without_executor("plugin_kind")
    monkeypatch.setitem(EXECUTORS, "plugin_kind", lambda run: Succeeded())

    requeued = [requeue_cleared_blockers(limit=2) for _ in range(2)]  # one lap of 4 by 2

    assert requeued == [0, 1]
    assert Step.objects.get(pk=newest.pk).status == "queued"


def test_it_records_a_pass_cut_short_by_its_cap():
    for _ in range(3):
        blocked_without_executor("never_installed")

    requeue_cleared_blockers(limit=2)

    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "requeue_cleared_blockers", "limit": 2, "waiting": 3}


def test_a_pass_that_checks_everything_records_no_cap():
    blocked_without_executor("never_installed")

    requeue_cleared_blockers(limit=2)

    assert not Event.objects.filter(kind="sweep.capped").exists()
