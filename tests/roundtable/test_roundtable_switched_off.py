"""roundtable_policy.enabled false is the lane's own off switch: the schedule enqueues nothing,
and a conversation already queued (the API's, an operator's) waits rather than being held."""

import pytest

from opscore.actions import set_policy
from opscore.models import LLMCall
from roundtable.lifecycle import request_conversation
from roundtable.models import Conversation
from roundtable.tasks import run_next_conversation

pytestmark = pytest.mark.django_db


def test_a_queued_conversation_waits_while_the_roundtable_is_switched_off(crew, settings):
    settings.OPS_TURN_PAUSE_SECONDS = 0
    queued = request_conversation("debate", ["devops", "security"], "x", source="api")
    set_policy("roundtable_policy", {"enabled": False}, actor="t", reason="quiet week")

    ran = run_next_conversation()

    assert ran == {"ran": None, "reason": "roundtable_policy disabled"}
    assert Conversation.objects.get(pk=queued.id).status == "queued"
    assert not LLMCall.objects.exists()
