"""A provider fault in a conversation — a turn or its distillation — ends it with the reason on
its row: through the real clients on a fake HTTP transport, an overloaded provider, a malformed
200 and a reply over the input limit each close the conversation `failed` or `distill_failed`,
never leave it `running` or raise."""

import random

import pytest

from roundtable.distillation import distill
from roundtable.lifecycle import request_conversation
from roundtable.speaking import run_conversation
from tests.opscore.test_llm_faults import (
    MEGABYTE,
    PROVIDERS,
    Served,
    one_line,
    replies,
)

pytestmark = pytest.mark.django_db
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}


@pytest.fixture(autouse=True)
def no_pause(settings):
    settings.OPS_LLM_RETRY_BASE_SECONDS = 0


FAULTS = ["overloaded", "not json", "over the limit"]


@pytest.fixture(params=[(p, f) for p in PROVIDERS for f in FAULTS], ids="-".join)
def faulty_provider(request, monkeypatch, settings):
    """The provider on a fake transport that answers every call with one fault."""
    provider, fault = request.param
    use, body = PROVIDERS[provider]
    answers = {
        "overloaded": [replies(529, OVERLOADED)] * settings.OPS_LLM_MAX_TRIES,
        "not json": [replies(200, "{'this is': not json")] * 2,
        "over the limit": [replies(200, body(text=MEGABYTE))] * 2,
    }
    use(monkeypatch, Served(*answers[fault]))


def a_conversation():
    return request_conversation("debate", ["devops", "security"], "x", source="operator")


def test_a_provider_fault_in_a_turn_fails_the_conversation_with_the_reason(crew, faulty_provider):
    conversation = run_conversation(a_conversation(), random.Random(1), pause=0)

    conversation.refresh_from_db()
    assert conversation.status == "failed"
    assert one_line(conversation.error), conversation.error
    assert not conversation.turns.exists()


def test_a_provider_fault_in_distilling_marks_it_distill_failed_with_the_reason(
    crew, faulty_provider
):
    conversation = distill(a_conversation())

    conversation.refresh_from_db()
    assert conversation.status == "distill_failed"
    assert conversation.error.startswith("distillation call failed: ")
    assert one_line(conversation.error), conversation.error
