"""A time the Stage labels "UTC" is a UTC time, whatever OPS_TIME_ZONE the operator set: Django
renders `|date` in the configured zone, so a label has to ask for UTC itself."""

from datetime import UTC, datetime

import pytest

from missions.models import Mission
from missions.threads import ask_operator
from tests.factories import make_step

pytestmark = pytest.mark.django_db


def test_a_deadline_and_a_questions_wait_labelled_utc_are_utc_in_new_york(
    admin_client, settings, clock
):
    """23:30 on 31 March in New York is 03:30 UTC on 1 April: a label that said "2027-03-31
    23:59 UTC" put the mission's deadline four hours (and a month) early."""
    settings.TIME_ZONE = "America/New_York"
    clock.freeze(datetime(2027, 4, 1, 3, 30, tzinfo=UTC))
    step = make_step("noop")
    Mission.objects.filter(pk=step.mission_id).update(
        deadline_at=datetime(2027, 4, 1, 3, 59, tzinfo=UTC)
    )
    ask_operator(step, "Ship it before the quarter closes?", wait_minutes=60)

    mission_page = admin_client.get(f"/stage/missions/{step.mission_id}").content.decode()
    thread_page = admin_client.get(f"/stage/threads/mission/{step.mission_id}").content.decode()

    assert "Deadline <b>2027-04-01 03:59 UTC</b>" in mission_page
    assert "waits until 2027-04-01 04:30 UTC" in thread_page
