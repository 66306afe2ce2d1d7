"""A model call that fails to connect says why on its LLMCall row: the providers reported only
the exception's type ("ollama: ConnectError", "anthropic: APIConnectionError"), so a refused
name lookup, a refused connection or a proxy's complaint all read the same. The reason is kept
on one line, capped, and with secrets redacted as every LLM error is."""

import httpx
import httpx2
import pytest

from opscore.http_deadline import LOOKUPS_AT_ONCE
from opscore.llm import LLMError, LLMRequest, TransientLLMError, call_llm
from opscore.llm_providers import AnthropicProvider, OllamaProvider
from opscore.models import LLMCall

pytestmark = pytest.mark.django_db
PROXIES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
REQUEST = LLMRequest(system="You write reports.", messages=[{"role": "user", "content": "Go"}])


@pytest.fixture
def one_try(settings, monkeypatch):
    settings.OPS_LLM_RETRY_BASE_SECONDS, settings.OPS_LLM_MAX_TRIES = 0, 1
    settings.OPS_LLM_TIMEOUT_SECONDS, settings.OPS_LLM_DEADLINE_SECONDS = 60, 180
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def failed_call(agent, provider) -> str:
    with pytest.raises(TransientLLMError):
        call_llm(REQUEST, agent=agent, purpose="report", prompt_version="v1", provider=provider)
    return LLMCall.objects.get().error


def refused_call(agent, provider) -> str:
    with pytest.raises(LLMError):
        call_llm(REQUEST, agent=agent, purpose="report", prompt_version="v1", provider=provider)
    return LLMCall.objects.get().error


def hung_provider(provider: str, monkeypatch):
    """`provider` pointed at a name under .hung.test, which the hung resolver never answers."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://anthropic.hung.test")
    return {
        "anthropic": lambda: AnthropicProvider("sk-test"),
        "ollama": lambda: OllamaProvider("http://ollama.hung.test"),
    }[provider]()


@pytest.mark.parametrize("provider", ["anthropic", "ollama"])
def test_a_lookup_refused_past_the_most_at_once_is_the_calls_error(
    hung_resolver, one_try, agent, monkeypatch, provider
):
    hung_resolver.given_up_on(*(f"name-{n}.hung.test" for n in range(LOOKUPS_AT_ONCE)))
    model = hung_provider(provider, monkeypatch)

    error = failed_call(agent, model)

    assert f"not looking up {provider}.hung.test: {LOOKUPS_AT_ONCE} name lookups" in error
    assert error.startswith(f"{provider}: ")


def test_an_ollama_connect_failure_says_the_reason_on_one_line(one_try, agent):
    def refuse(request):
        raise httpx.ConnectError("[Errno 111] Connection refused\nby 10.0.0.7")

    model = OllamaProvider("http://ollama.test", transport=httpx.MockTransport(refuse))

    error = failed_call(agent, model)

    assert error == "ollama: ConnectError: [Errno 111] Connection refused by 10.0.0.7"


def test_an_anthropic_connect_failure_says_the_reason_with_secrets_redacted(
    one_try, agent, settings
):
    settings.ANTHROPIC_API_KEY = "sk-ant-proxy-key-0123456789"

    def refuse(request):
        raise httpx2.ConnectError(
            f"proxy said 407 for Bearer abcdefgh12345678 and {settings.ANTHROPIC_API_KEY}"
            + " and so on" * 100
        )

    model = AnthropicProvider("sk-test", transport=httpx2.MockTransport(refuse))

    error = failed_call(agent, model)

    assert error.startswith("anthropic: APIConnectionError: ")
    assert "proxy said 407 for Bearer [redacted] and [redacted]" in error
    assert "abcdefgh12345678" not in error and "sk-ant-proxy" not in error
    assert "\n" not in error and len(error) <= 300


def test_an_error_that_quotes_the_request_says_only_its_type(one_try, agent):
    """h11 quotes a header value it rejects: that is what was sent, not why it failed."""

    def reject(request):
        raise httpx.LocalProtocolError("Illegal header value b'x-note: a private aside'")

    model = OllamaProvider("http://ollama.test", transport=httpx.MockTransport(reject))

    assert failed_call(agent, model) == "ollama: LocalProtocolError"


@pytest.mark.parametrize("provider", ["anthropic", "ollama"])
def test_a_lookup_past_the_calls_deadline_says_which_name_it_waited_for(
    hung_resolver, one_try, agent, monkeypatch, settings, provider
):
    """A timeout's text is the deadline's or the socket's ("timed out"), never the request's,
    so the row says what the call waited for."""
    settings.OPS_LLM_DEADLINE_SECONDS = 0.2
    model = hung_provider(provider, monkeypatch)

    error = failed_call(agent, model)

    assert error.startswith(f"{provider}: ")
    assert f"the call's overall deadline passed looking up {provider}.hung.test" in error


def test_an_ollama_behind_a_password_keeps_it_out_of_the_calls_error(one_try, agent, settings):
    """A remote Ollama behind a proxy's basic auth (OLLAMA_URL=https://user:password@host):
    httpx sends the URL's userinfo as an Authorization: Basic header, and a proxy that refuses
    it may say what it got, the URL or the header, in the body the call's error quotes."""
    settings.OLLAMA_URL = "http://opscore:ollama-pass-0123456789@ollama.test"

    def refuse(request):
        said = f"denied {request.headers['authorization']} ({settings.OLLAMA_URL})"
        return httpx.Response(401, text=said)

    model = OllamaProvider(settings.OLLAMA_URL, transport=httpx.MockTransport(refuse))

    error = refused_call(agent, model)

    assert "401" in error
    assert "ollama-pass" not in error and "b3BzY29yZTpvbGxhbWEt" not in error  # as base64 too


def test_an_ollama_token_as_the_urls_user_is_kept_out_of_the_calls_error(one_try, agent, settings):
    """OLLAMA_URL=https://TOKEN@host: the token is the whole credential, with no password, and
    a proxy's refusal quoting the header or the URL showed it on the row."""
    settings.OLLAMA_URL = "http://tok_ollama0123456789@ollama.test"

    def refuse(request):
        return httpx.Response(
            502, text=f"denied {request.headers['authorization']} ({request.url})"
        )

    model = OllamaProvider(settings.OLLAMA_URL, transport=httpx.MockTransport(refuse))

    error = failed_call(agent, model)

    assert "502" in error and "[redacted]" in error
    assert "tok_ollama" not in error and "dG9rX29sbGFtYT" not in error  # as base64 too


def test_a_password_quoted_where_the_reason_is_cut_shows_none_of_it(one_try, agent, settings):
    """An error answer's reason is its first 200 characters, and it was cut before it was
    masked: a refusal quoting the password across that cut left the password's head on the
    row, where no masking knew it for a secret any more."""
    password = "ollama-pass-0123456789"
    settings.OLLAMA_URL = f"http://opscore:{password}@ollama.test"

    def refuse(request):
        return httpx.Response(401, text="denied: " + "x" * 180 + f" {password} was refused")

    model = OllamaProvider(settings.OLLAMA_URL, transport=httpx.MockTransport(refuse))

    error = refused_call(agent, model)

    assert "401" in error and "denied: xxx" in error
    assert "ollama-pa" not in error, error
