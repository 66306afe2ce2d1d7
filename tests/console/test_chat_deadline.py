"""A chat message (or a thread remark) is answered while a person waits on the request: its
model call gets one short deadline for all its tries (OPS_TALK_DEADLINE_SECONDS), not the
workers' three tries of three minutes each. Past it, the answer says why and gives the
ledger's rows; the message and the answer are both kept."""

import itertools

import httpx2
import pytest

from console.chat import send_message
from console.models import ChatMessage
from missions.models import Comment
from missions.threads import post_comment
from opscore.llm import AnthropicProvider
from opscore.models import LLMCall
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def slow_model(monkeypatch, settings):
    """A model that trickles a space every 30 s (the clock is moved, not waited on), each
    read well inside the per-read timeout; `reads` says each request's read timeout."""
    settings.OPSCORE_LLM = "anthropic"
    settings.OPS_LLM_RETRY_BASE_SECONDS = 0
    clock = itertools.count(0, 30)
    monkeypatch.setattr("opscore.llm.time.monotonic", lambda: next(clock))
    reads = []

    def handler(request):
        reads.append(request.extensions["timeout"]["read"])
        return httpx2.Response(200, content=(b" " for _ in range(100)))

    model = AnthropicProvider("sk-test", transport=httpx2.MockTransport(handler))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)
    return reads


def test_a_slow_model_ends_the_chat_call_at_its_short_deadline(slow_model, settings):
    settings.OPS_TALK_DEADLINE_SECONDS = 20
    AgentFactory(slug="coordinator")

    answer = send_message("what is running?", actor="operator:ann")

    assert "no model answer" in answer.text and "within the 20 s a person waits" in answer.text
    assert answer.text.startswith("What the ledger says:")
    assert [call.outcome for call in LLMCall.objects.all()] == ["transient_error"]
    assert slow_model and all(read <= 20 for read in slow_model)
    kept = ChatMessage.objects.order_by("id").values_list("role", flat=True)
    assert list(kept) == ["operator", "coordinator"]


def test_from_the_stage_the_request_returns_with_the_reason(slow_model, admin_client, settings):
    settings.OPS_TALK_DEADLINE_SECONDS = 20
    AgentFactory(slug="coordinator")

    answer = admin_client.post("/stage/chat/send", {"text": "what is running?"}, follow=True)

    assert answer.status_code == 200
    assert "within the 20 s a person waits" in answer.content.decode()
    assert LLMCall.objects.count() == 1


def test_a_thread_remark_keeps_why_no_reply_came_in_time(slow_model, settings):
    settings.OPS_TALK_DEADLINE_SECONDS = 20
    mission = make_step().mission

    remark = post_comment("mission", mission.id, actor="operator:ann", text="EU only, please")

    remark.refresh_from_db()
    assert "within the 20 s a person waits" in remark.note
    assert LLMCall.objects.count() == 1
    assert Comment.objects.filter(kind="reply").count() == 0
