"""The rules every step row keeps, enforced by the database whoever writes the row (the CHECK
step_row_valid) and reported by Django's validation before a save."""

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Now

from missions.models import Step
from tests.factories import make_step

pytestmark = pytest.mark.django_db

REFUSED = [
    {"status": "running"},  # running without a lease
    {"status": "running", "lease_token": uuid.uuid4()},  # a lease without its expiry
    {"lease_token": uuid.uuid4(), "lease_expires_at": Now()},  # queued, holding a lease
    {"status": "succeeded", "lease_expires_at": Now()},
    {"status": "blocked", "blocked_reason": ""},
    {"priority": 0},
    {"priority": 1001},
    {"max_attempts": 0},
    {"attempt_count": -1},
    {"position": -1},
]


@pytest.mark.parametrize("change", REFUSED)
def test_it_refuses_a_row_that_breaks_a_rule(change):
    step = make_step()

    with pytest.raises(IntegrityError, match="step_row_valid"), transaction.atomic():
        Step.objects.filter(pk=step.pk).update(**change)


def test_it_accepts_the_rows_a_step_goes_through():
    step = make_step(priority=1000, max_attempts=1)
    lease = {"lease_token": uuid.uuid4(), "lease_expires_at": Now()}
    steps = Step.objects.filter(pk=step.pk)

    steps.update(status="running", attempt_count=1, **lease)
    steps.update(
        status="blocked",
        blocked_reason="waits for a human",
        lease_token=None,
        lease_expires_at=None,
    )
    steps.update(status="succeeded", priority=1)

    assert steps.get().status == "succeeded"


def test_validation_reports_the_broken_rule_before_a_save():
    step = make_step()
    step.status, step.blocked_reason = "blocked", ""

    with pytest.raises(ValidationError, match="step_row_valid"):
        step.validate_constraints()
    step.blocked_reason = "waits for a human"
    step.validate_constraints()


def test_the_database_hands_the_rule_the_whole_row():
    """Postgres prepares a table's CHECKs again for every statement that writes it, twice a step
    on the workers' path: one whole-row reference is the cheapest tree the rule can have."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'step_row_valid'"
        )
        (definition,) = cursor.fetchone()

    assert definition == "CHECK (missions_step_row_valid(missions_step.*))"
