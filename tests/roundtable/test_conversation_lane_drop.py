"""A roundtable lane paused in drop mode refuses a conversation asked for (by the API, the
schedule, the first-boot plan) with a recorded reason: a failed row naming the override, which
no turn ever runs, not a queued one that starts talking the moment the pause is lifted."""

import pytest

from opscore.models import Event
from opscore.overrides import apply_override, lift_override
from roundtable.lifecycle import request_conversation
from roundtable.models import Conversation
from roundtable.tasks import run_next_conversation

pytestmark = pytest.mark.django_db
BODY = {"format": "debate", "participants": ["devops", "security"], "topic": "Fridays"}


def test_it_refuses_an_api_request_with_the_pause_named(crew, client, settings):
    settings.OPS_API_TOKEN = "tok-0123456789" * 3
    auth = {"Authorization": "Bearer " + "tok-0123456789" * 3}
    row = apply_override("pause-lane", "roundtable:drop", reason="quiet week", actor="operator:ana")

    answer = client.post(
        "/api/ops/conversations", BODY, content_type="application/json", headers=auth
    )

    kept = Conversation.objects.get(pk=answer.json()["id"])
    assert kept.status == "failed"
    assert f"lane roundtable paused (drop) by override {row.id}: quiet week" in kept.error
    assert answer.json()["error"] == kept.error
    assert Event.objects.filter(kind="conversation.dropped").count() == 1


def test_nothing_it_refused_runs_once_the_pause_is_lifted(crew):
    row = apply_override("pause-lane", "roundtable:drop", reason="quiet week", actor="operator:ana")
    refused = request_conversation("debate", ["devops", "security"], "Fridays", source="api")

    lift_override(row.id, actor="operator:ana", reason="back to work")

    assert run_next_conversation() == {"ran": None}
    refused.refresh_from_db()
    assert refused.status == "failed"


def test_a_queued_pause_still_queues_what_is_asked_for(crew):
    apply_override("pause-lane", "roundtable", reason="quiet week", actor="operator:ana")

    queued = request_conversation("debate", ["devops", "security"], "Fridays", source="api")

    assert queued.status == "queued"


def test_an_operators_forced_conversation_is_held_under_drop(crew):
    apply_override("pause-lane", "roundtable:drop", reason="quiet week", actor="operator:ana")

    forced = request_conversation("debate", ["devops", "security"], "Fridays", source="operator")

    assert forced.status == "queued"
