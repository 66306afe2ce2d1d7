"""With HTTPS_PROXY (or HTTP_PROXY, ALL_PROXY) set, Anthropic's calls go through that proxy,
and an error answer's body is still cut at 1 KiB within the deadline: the proxy's transport
sits behind ShortErrors like the direct one. The HTTP seam is httpx2's transport, faked."""

import base64
import types

import httpx2
import pytest

from opscore.llm import AnthropicProvider, LLMError, LLMRequest, TransientLLMError
from opscore.redaction import forget_known_secrets

REQUEST = LLMRequest(system="s", messages=[{"role": "user", "content": "hi"}])
PROXY = "http://proxy.test:3128"


class FakeTransport(httpx2.BaseTransport):
    """Stands where httpx2.HTTPTransport would: answers 502 with a body without end, and
    says which proxy (if any) it was built for."""

    answered_via: list = []
    chunks_sent: list = []

    def __init__(self, proxy=None, **_):
        self.proxy = proxy
        self._pool = types.SimpleNamespace()  # where the provider sets the deadline's network

    def handle_request(self, request):
        self.answered_via.append(self.proxy)

        def endless():
            while len(self.chunks_sent) < 200:  # 13 MB, were it all read
                self.chunks_sent.append(1)
                yield b"<html>bad gateway" + b" " * 65536

        return httpx2.Response(502, content=endless())


@pytest.fixture(autouse=True)
def fake_transport(monkeypatch):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setattr(httpx2, "HTTPTransport", FakeTransport)
    FakeTransport.answered_via, FakeTransport.chunks_sent = [], []


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "ALL_PROXY"])
def test_a_proxy_in_the_environment_is_used_and_error_bodies_stay_short(monkeypatch, variable):
    monkeypatch.setenv(variable, PROXY)

    with pytest.raises(TransientLLMError, match="HTTP 502"):
        AnthropicProvider("sk-test").complete(REQUEST)

    assert FakeTransport.answered_via == [PROXY]
    assert len(FakeTransport.chunks_sent) <= 2


def test_no_proxy_goes_direct_and_error_bodies_stay_short(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", PROXY)
    monkeypatch.setenv("NO_PROXY", "api.anthropic.com")

    with pytest.raises(TransientLLMError, match="HTTP 502"):
        AnthropicProvider("sk-test").complete(REQUEST)

    assert FakeTransport.answered_via == [None]
    assert len(FakeTransport.chunks_sent) <= 2


class RefusingProxy(FakeTransport):
    """A proxy that refuses the credential it was given (407), quoting it: as the URL it was
    reached by, and as the Proxy-Authorization an HTTP client makes of it."""

    def handle_request(self, request):
        url = httpx2.URL(self.proxy)
        basic = base64.b64encode(f"{url.username}:{url.password}".encode()).decode()
        said = f"proxy {self.proxy} refused Proxy-Authorization: Basic {basic}"
        return httpx2.Response(407, content=said.encode())


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_a_proxy_refusing_its_credential_shows_none_of_it(monkeypatch, variable):
    """The proxies' URLs come from the environment, passwords and all, and no masking knew
    them: a proxy's refusal quoting the credential put it on the call's row and the step."""
    monkeypatch.setenv(variable, "http://opscore:proxy-pass-0123456789@proxy.test:3128")
    monkeypatch.setattr(httpx2, "HTTPTransport", RefusingProxy)
    forget_known_secrets()

    with pytest.raises(LLMError, match="HTTP 407") as raised:
        AnthropicProvider("sk-test").complete(REQUEST)

    assert "proxy-pass" not in str(raised.value), raised.value
    assert "b3BzY29yZTpwcm94eS1wYXNz" not in str(raised.value)  # nor as Basic
