"""A model call no one waits on (a step's) is held to its whole-reply limit too: every try ends
within OPS_LLM_DEADLINE_SECONDS of its start, connect, reply head and body together. httpx
gives each connect and read the per-read timeout (OPS_LLM_TIMEOUT_SECONDS) anew, so a host
that connected slowly or sent its head late, then trickled its body, held a try for the
whole-reply limit counted from the body's start, plus a read more. A person's shorter deadline
(tests/console/test_chat_deadline.py) still holds inside it."""

import pytest

from opscore.llm import LLMRequest, TransientLLMError, call_llm
from opscore.models import LLMCall
from tests.fake_sockets import Clock, Host, Lookup, Network

pytestmark = pytest.mark.django_db
PROXIES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
# A reply's head and the first byte of its body, 50 s after it was asked for; then a space
# every 50 s, each read well inside the 60 s one read may take.
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n{"
TRICKLE = [(50, HEAD)] + [(50, b" ")] * 6
TIMED_OUT = "no answer within the 180 s a reply may take"
REQUEST = LLMRequest(system="You write reports.", messages=[{"role": "user", "content": "Go"}])


@pytest.fixture(params=["anthropic", "ollama"])
def model_host(request, monkeypatch, settings):
    """The configured provider, as built in production, its host behind fake sockets
    (tests/fake_sockets.py); a read may take 60 s, a whole reply 180 s."""
    settings.OPSCORE_LLM, settings.ANTHROPIC_API_KEY = request.param, "sk-test"
    settings.OLLAMA_URL = "http://ollama.test"
    settings.OPS_LLM_TIMEOUT_SECONDS, settings.OPS_LLM_DEADLINE_SECONDS = 60, 180
    settings.OPS_LLM_RETRY_BASE_SECONDS, settings.OPS_LLM_MAX_TRIES = 0, 1
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://anthropic.test")
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    network = Network(Clock()).install(monkeypatch)
    return network


def step_call(agent):
    """A call as a step's executor makes it: no person's deadline around it."""
    with pytest.raises(TransientLLMError) as raised:
        call_llm(REQUEST, agent=agent, purpose="report", prompt_version="report-v1")
    return str(raised.value)


def test_a_late_head_then_a_trickle_ends_the_try_at_its_whole_reply_limit(model_host, agent):
    model_host.hosts.append(Host(answers=TRICKLE))
    asked = model_host.clock.now

    reason = step_call(agent)

    assert model_host.timeouts("read") == [60, 60, 60, 30]
    assert model_host.clock.now - asked == 180
    assert TIMED_OUT in reason
    assert [call.outcome for call in LLMCall.objects.all()] == ["transient_error"]


def test_a_slow_connect_counts_toward_the_whole_reply_limit(model_host, agent):
    model_host.hosts.append(Host(connect=50, answers=TRICKLE))
    asked = model_host.clock.now

    reason = step_call(agent)

    assert model_host.timeouts("connect", "read") == [60, 60, 60, 30]
    assert model_host.clock.now - asked == 180
    assert TIMED_OUT in reason


def test_each_try_has_the_whole_reply_limit_from_its_own_start(model_host, agent, settings):
    settings.OPS_LLM_MAX_TRIES = 2
    model_host.hosts += [Host(answers=TRICKLE), Host(answers=TRICKLE)]
    asked = model_host.clock.now

    reason = step_call(agent)

    assert model_host.timeouts("read") == [60, 60, 60, 30] * 2
    assert model_host.clock.now - asked == 360
    assert TIMED_OUT in reason
    assert [call.outcome for call in LLMCall.objects.all()] == ["transient_error"] * 2


def test_one_read_past_its_timeout_says_so(model_host, agent):
    model_host.hosts.append(Host(answers=[(70, HEAD)]))

    reason = step_call(agent)

    assert model_host.timeouts("read") == [60]
    assert "past the 60 s one connect or read may take" in reason


def test_a_name_lookup_that_hangs_ends_the_try_at_its_whole_reply_limit(model_host, agent):
    model_host.lookups.append(Lookup(seconds=300))
    asked = model_host.clock.now

    reason = step_call(agent)

    assert model_host.timeouts("lookup", "connect") == [180]
    assert model_host.clock.now - asked == 180
    assert TIMED_OUT in reason


def test_after_a_slow_lookup_each_address_gets_only_what_is_left(model_host, agent):
    model_host.lookups.append(Lookup(seconds=100, addresses=["10.0.0.1", "10.0.0.2"]))
    asked = model_host.clock.now

    reason = step_call(agent)

    assert model_host.timeouts("lookup", "connect") == [180, 60, 20]
    assert model_host.clock.now - asked == 180
    assert TIMED_OUT in reason
