"""A chat message (or a thread remark) is answered while a person waits on the request: its
model call gets one deadline for all of it (OPS_TALK_DEADLINE_SECONDS), measured from when
the person asked: every try, connect, read and body together, not the workers' three tries
of three minutes each, nor each phase of a request its own full deadline. Past it, the
answer says which deadline ended it and gives the ledger's rows; the message and the answer
are both kept, and no try starts once it has passed."""

import httpx2
import pytest

from console.chat import send_message
from console.models import ChatMessage
from missions.models import Comment
from missions.threads import post_comment
from opscore.llm import AnthropicProvider
from opscore.models import LLMCall
from tests.factories import AgentFactory, make_step
from tests.fake_sockets import Clock, Host, Lookup, Network

pytestmark = pytest.mark.django_db
PROXIES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
# A reply's head and the first byte of its body; the rest never comes.
STALLED = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n{"
DOWN = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b'connection: close\r\ncontent-length: 16\r\n\r\n{"error":"down"}'
)
TIMED_OUT = "no answer within the 20 s a person waits for an answer"


@pytest.fixture
def slow_model(monkeypatch, settings):
    """A model that trickles a space every 30 s (the clock is moved as each is served, not
    waited on), each read well inside the per-read timeout; `reads` says each request's read
    timeout."""
    settings.OPSCORE_LLM = "anthropic"
    settings.OPS_LLM_RETRY_BASE_SECONDS = 0
    clock = Clock()
    monkeypatch.setattr("time.monotonic", clock)
    reads = []

    def trickle():
        for _ in range(100):
            clock.now += 30
            yield b" "

    def handler(request):
        reads.append(request.extensions["timeout"]["read"])
        return httpx2.Response(200, content=trickle())

    model = AnthropicProvider("sk-test", transport=httpx2.MockTransport(handler))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)
    return reads


@pytest.fixture(params=["anthropic", "ollama"])
def model_host(request, monkeypatch, settings):
    """The configured provider, as built in production, its host behind fake sockets
    (tests/fake_sockets.py); a person waits 20 s for an answer."""
    settings.OPSCORE_LLM, settings.ANTHROPIC_API_KEY = request.param, "sk-test"
    settings.OLLAMA_URL = "http://ollama.test"
    settings.OPS_TALK_DEADLINE_SECONDS, settings.OPS_LLM_RETRY_BASE_SECONDS = 20, 0
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://anthropic.test")
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    network = Network(Clock()).install(monkeypatch)
    AgentFactory(slug="coordinator")
    return network


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


def test_a_reply_whose_head_came_late_has_only_what_is_left_for_its_body(model_host):
    model_host.hosts.append(Host(answers=[(15, STALLED)]))
    asked = model_host.clock.now

    answer = send_message("what is running?", actor="operator:ann")

    assert model_host.timeouts("read") == [20, 5]
    assert model_host.clock.now - asked == 20
    assert "no model answer" in answer.text and TIMED_OUT in answer.text
    assert [call.outcome for call in LLMCall.objects.all()] == ["transient_error"]


def test_a_slow_connect_leaves_the_wait_for_the_reply_only_what_is_left(model_host):
    model_host.hosts.append(Host(connect=15))
    asked = model_host.clock.now

    answer = send_message("what is running?", actor="operator:ann")

    assert model_host.timeouts("connect", "read") == [20, 5]
    assert model_host.clock.now - asked == 20
    assert TIMED_OUT in answer.text


def test_a_second_try_has_only_what_the_first_left(model_host):
    model_host.hosts += [Host(answers=[(12, DOWN)]), Host()]
    asked = model_host.clock.now

    answer = send_message("what is running?", actor="operator:ann")

    assert model_host.timeouts("connect", "read") == [20, 20, 8, 8]
    assert model_host.clock.now - asked == 20
    assert TIMED_OUT in answer.text
    assert [call.outcome for call in LLMCall.objects.all()] == ["transient_error"] * 2


def test_no_try_starts_once_the_deadline_has_passed(model_host, monkeypatch, settings):
    settings.OPS_LLM_RETRY_BASE_SECONDS = 1
    model_host.hosts += [Host(answers=[(5, DOWN)]), Host()]

    # The pause between tries ends 20 s late (a suspended machine, a busy host).
    monkeypatch.setattr("time.sleep", model_host.clock.sleeper(overrun=20))

    answer = send_message("what is running?", actor="operator:ann")

    assert model_host.timeouts("connect") == [20]
    assert TIMED_OUT in answer.text
    assert [call.outcome for call in LLMCall.objects.all()] == ["transient_error"]


def test_a_fault_too_near_the_deadline_for_another_try_says_so(model_host, settings):
    settings.OPS_LLM_RETRY_BASE_SECONDS = 2
    model_host.hosts.append(Host(answers=[(19, DOWN)]))

    answer = send_message("what is running?", actor="operator:ann")

    assert model_host.timeouts("connect") == [20]
    assert "no time for another try within the 20 s a person waits" in answer.text
    assert "HTTP 503" in answer.text


def test_a_name_lookup_that_hangs_ends_at_the_persons_deadline(model_host):
    model_host.lookups.append(Lookup(seconds=300))
    asked = model_host.clock.now

    answer = send_message("what is running?", actor="operator:ann")

    assert model_host.timeouts("lookup", "connect") == [20]
    assert model_host.clock.now - asked == 20
    assert "no model answer" in answer.text and TIMED_OUT in answer.text
