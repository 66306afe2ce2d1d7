"""An admin bulk action whose ticked rows name no row id (a hand-made form: 'abc', '1.5')
is a 400 saying so, and the action touches nothing. The admin filtered
`pk__in` with what it was sent, so such an id was a 500 with a traceback, in every admin."""

import pytest

from missions.models import Mission
from tests.factories import OperatorFactory, make_step

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("stranger", ["abc", "1.5", "1e3", " "])
def test_a_selected_id_that_is_no_id_is_a_400_and_nothing_is_paused(client, stranger):
    client.raise_request_exception = False
    client.force_login(OperatorFactory())
    mission = make_step("noop").mission
    form = {"action": "pause_missions", "index": "0", "reason": "hold on"}

    answer = client.post(
        "/admin/missions/mission/", form | {"_selected_action": [str(mission.pk), stranger]}
    )

    assert answer.status_code == 400
    assert answer.text == f"_selected_action: {stranger!r} is not a mission's id."
    assert Mission.objects.get(pk=mission.pk).paused_at is None
