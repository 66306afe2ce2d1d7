"""A worker whose database connection is cut (pg_terminate_backend) at the worst moments."""

import pytest
from django.db import connection

from missions import execution, worker
from missions.models import Step, Worker
from missions.worker import WorkerSession
from opscore.models import Event
from tests.factories import make_step

pytestmark = pytest.mark.django_db(transaction=True)


def cut_own_connection() -> None:
    """Terminate this connection's backend from another session, then touch it: the driver
    raises as it would after a restart, and whatever the last call returned is lost."""
    pid = connection.connection.info.backend_pid
    with worker.connect_listener() as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    connection.cursor().execute("SELECT 1")


def lose_first_answer_of(monkeypatch, name: str, when=bool) -> list:
    """execution.<name> commits as usual; the first time its answer passes `when`, the
    connection dies before the worker hears it. Returns what was cut (filled in then)."""
    real, cut = getattr(execution, name), []

    def answer_lost(*args, **options):
        answer = real(*args, **options)
        if when(answer) and not cut:
            cut.append(answer)
            cut_own_connection()
        return answer

    monkeypatch.setattr(execution, name, answer_lost)
    return cut


def run_until_idle():
    return WorkerSession("w-cut", seconds=120, idle_poll=0.1, until_idle=True).run()


def test_a_claim_whose_answer_the_outage_swallowed_is_handed_back_not_spent(monkeypatch):
    """The claim committed (attempt 1 of 1 leased to us), the connection died before the step
    ran: the step never ran, so the release must not use up its only attempt."""
    step = make_step("test_effect", max_attempts=1)
    cut = lose_first_answer_of(monkeypatch, "claim_next_step")

    report = run_until_idle()

    step = Step.objects.get(pk=step.pk)
    assert ([s.id for s in cut], report.reconnects, step.status) == ([step.id], 1, "succeeded")
    attempts = list(step.attempts.order_by("attempt_no").values_list("outcome", "error"))
    assert attempts[0][0] == "interrupted"
    assert "lost the database before running it" in attempts[0][1]
    assert attempts[1][0] == "succeeded"


def test_a_claim_the_outage_swallowed_never_ran_so_even_an_outside_effect_goes_ahead(monkeypatch):
    """A kind with an outside effect waits for a human when a worker is lost mid-run (the
    effect may have happened). A claim whose answer never arrived never ran: it goes back to
    the queue like any other, rather than 'lost the database before running it … a human
    decides whether to retry'."""
    step = make_step("test_publish")
    cut = lose_first_answer_of(monkeypatch, "claim_next_step")

    report = run_until_idle()

    step = Step.objects.get(pk=step.pk)
    assert ([s.id for s in cut], report.reconnects) == ([step.id], 1)
    assert (step.status, step.blocked_code) == ("succeeded", "")
    outcomes = list(step.attempts.order_by("attempt_no").values_list("outcome", flat=True))
    assert outcomes == ["interrupted", "succeeded"]
    assert step.outbox.count() == 1


def test_a_completion_whose_answer_the_outage_swallowed_is_recorded_once(monkeypatch):
    """The success and its effect committed, the connection died before the answer came
    back: after reconnecting the worker sees the attempt closed and writes nothing twice."""
    step = make_step("test_effect")
    cut = lose_first_answer_of(monkeypatch, "record_outcome", when=lambda applied: True)

    report = run_until_idle()

    step = Step.objects.get(pk=step.pk)
    assert (cut, report.reconnects, step.status) == ([True], 1, "succeeded")
    assert report.steps == 1  # it ran one step, whose outcome it heard of late
    assert Worker.objects.get(pk="w-cut").steps_run == 1
    assert list(step.attempts.values_list("outcome", flat=True)) == ["succeeded"]
    assert step.outbox.count() == 1
    assert not Event.objects.filter(kind="step.late_write_refused").exists()
