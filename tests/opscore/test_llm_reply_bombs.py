"""A reply's size cap counts the bytes it inflates to, as they inflate: a provider (or a proxy
before it) answering with a gzip bomb — about 1 MB on the wire, 1 GiB inflated — is refused at
the cap, and the call never holds the inflated body, whether the answer is a reply or an error."""

import tracemalloc
import zlib

import pytest

from opscore.llm import LLMReplyError, LLMRequest, TransientLLMError
from opscore.llm_wire import BODY_CAP_FACTOR
from tests.opscore.test_llm_faults import PROVIDERS, Served

MEGABYTE = 1024 * 1024
GZIPPED = {"content-type": "application/json", "content-encoding": "gzip"}


def gzip_bomb(megabytes: int = 1024) -> bytes:
    """`megabytes` MiB of zeros, gzipped: each MiB after a full flush compresses to the same
    ~1 KB, so the bomb is built without inflating it here. Its trailer is never reached."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = squeeze.compress(bytes(MEGABYTE)) + squeeze.flush(zlib.Z_FULL_FLUSH)
    more = squeeze.compress(bytes(MEGABYTE)) + squeeze.flush(zlib.Z_FULL_FLUSH)
    return head + more * (megabytes - 1)


def as_it_arrives(body: bytes, size: int = 65536):
    """The body in the reads a connection hands over (httpcore reads 64 KiB at a time)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def peak_while(call) -> tuple[Exception, int]:
    tracemalloc.start()
    try:
        call()
    except Exception as raised:  # the test looks at what was raised
        caught = raised
    else:
        caught = None
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return caught, peak


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("status", [200, 503])
def test_a_gzip_bomb_is_refused_at_the_cap_without_inflating_it(monkeypatch, provider, status):
    from opscore import llm

    PROVIDERS[provider][0](monkeypatch, Served((status, as_it_arrives(gzip_bomb()), GZIPPED)))
    request = LLMRequest(system="s", messages=[{"role": "user", "content": "hi"}])

    raised, peak = peak_while(lambda: llm.get_provider().complete(request))

    cap = BODY_CAP_FACTOR * 64 * 1024
    assert peak < 2 * cap, f"{peak // MEGABYTE} MiB held for a {cap // MEGABYTE} MiB cap"
    if status == 200:
        assert isinstance(raised, LLMReplyError), raised
        assert f"reply body over {cap} bytes" in str(raised)
    else:
        assert isinstance(raised, TransientLLMError), raised
        assert "HTTP 503" in str(raised)
