"""Ollama's 200 answer is input too: one that is not JSON, or not a list of as many vectors as
texts asked for, each of equal width and of real numbers, raised a plain ValueError,
AttributeError or TypeError (or was kept: true is an int to Python) that retrieval did not
catch, so the prompt waiting on it failed; and the answer was read whole however long it ran.
Each is EmbeddingError now, saying why in one line, which retrieval turns into full text, and
the body is read no further than its cap. Through the real client code: a fake transport here,
fake sockets (tests/fake_sockets.py) for the prompt's retrieval."""

import httpx
import pytest

from memory.embeddings import EmbeddingError, OllamaEmbedder, answer_cap
from memory.retrieval import memory_context
from tests.fake_sockets import Clock, Host, Network
from tests.memory.test_embedding_deadline import (  # no_proxies: an autouse fixture
    no_proxies,  # noqa: F401
    retrieval_through_ollama,
)
from tests.memory.test_memory_embeddings import vectors  # noqa: F401 (a fixture)

MALFORMED = {
    "not-json": (b"<html>502 Bad Gateway</html>", "not JSON"),
    "not-utf8": (b"\xff\xfe{", "not JSON"),
    "nested-past-recursion": (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    "a-json-list": (b"[[0.1, 0.2]]", "a JSON list"),
    "no-embeddings": (b'{"error": "model not found"}', "expected 2 vectors, got NoneType"),
    "vectors-a-string": (b'{"embeddings": "0.1,0.2"}', "expected 2 vectors, got str"),
    "one-vector-for-two": (b'{"embeddings": [[0.1, 0.2]]}', "expected 2 vectors, got 1"),
    "three-vectors-for-two": (b'{"embeddings": [[1], [2], [3]]}', "expected 2 vectors, got 3"),
    "a-vector-a-number": (b'{"embeddings": [0.1, 0.2]}', "differing or impossible length"),
    "widths-differ": (b'{"embeddings": [[0.1, 0.2], [0.3]]}', "differing or impossible length"),
    "empty-vectors": (b'{"embeddings": [[], []]}', "differing or impossible length"),
    "a-string-in-a-vector": (b'{"embeddings": [[0.1], ["0.2"]]}', "not a finite number"),
    "true-in-a-vector": (b'{"embeddings": [[0.1], [true]]}', "not a finite number"),
    "infinity": (b'{"embeddings": [[0.1], [1e400]]}', "not a finite number"),
}


class Sent(httpx.SyncByteStream):
    """A body that arrives over the wire, as a server's does (not read ahead by httpx)."""

    def __init__(self, body: bytes):
        self.body = body

    def __iter__(self):
        yield self.body


def embedded(body: bytes, texts=("disk", "volume"), **headers) -> list:
    def answer(request):
        return httpx.Response(200, headers=headers, stream=Sent(body))

    ollama = OllamaEmbedder(
        "http://ollama.test:11434", "nomic-embed-text", httpx.MockTransport(answer)
    )
    return ollama.embed(list(texts))


@pytest.mark.parametrize(("body", "reason"), MALFORMED.values(), ids=MALFORMED)
def test_a_malformed_answer_is_an_embedding_error_saying_why_in_one_line(body, reason):
    with pytest.raises(EmbeddingError) as failed:
        embedded(body)

    assert str(failed.value).startswith("ollama: malformed reply: ")
    assert reason in str(failed.value)
    assert "\n" not in str(failed.value)


def test_a_well_formed_answer_is_its_vectors():
    assert embedded(b'{"embeddings": [[0.1, 2], [0.3, -4]]}') == [[0.1, 2], [0.3, -4]]


class Endless(httpx.SyncByteStream):
    """An answer that never ends, counting what was read of it."""

    def __init__(self):
        self.sent = 0

    def __iter__(self):
        while True:
            self.sent += 65536
            yield b" " * 65536


def test_an_answer_is_read_no_further_than_its_cap():
    endless = Endless()
    ollama = OllamaEmbedder(
        "http://ollama.test:11434",
        "nomic-embed-text",
        httpx.MockTransport(lambda request: httpx.Response(200, stream=endless)),
    )

    with pytest.raises(EmbeddingError) as failed:
        ollama.embed(["disk"])

    cap = answer_cap(1)
    assert str(failed.value) == f"ollama: malformed reply: over {cap} bytes; not read further"
    assert endless.sent <= cap + 65536


def test_an_answer_in_an_encoding_not_asked_for_is_refused():
    """A compressed body would inflate past the cap before a byte of it was counted."""
    with pytest.raises(EmbeddingError) as failed:
        embedded(b"\x1f\x8b...", **{"content-encoding": "gzip"})

    assert str(failed.value) == (
        "ollama: malformed reply: in content-encoding 'gzip', not the identity asked for"
    )


@pytest.mark.django_db
def test_retrieval_given_an_answer_that_is_not_json_falls_back_to_full_text_saying_why(
    monkeypatch,
    agent,
    vectors,  # noqa: F811
    settings,
):
    retrieval_through_ollama(settings)
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!"
    Network(Clock(), Host(answers=[(0.0, answer)])).install(monkeypatch)

    section, injected = memory_context("devops", "volume friday")

    assert "fills up every Friday" in section
    assert injected["memory_ranking"] == (
        "full-text (embeddings failed: ollama: malformed reply: not JSON"
        " (Expecting value: line 1 column 1 (char 0)))"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("before", [100, 180], ids=["whole", "cut-by-the-200-kept"])
def test_an_error_answer_quoting_ollamas_password_is_masked_where_retrieval_says_why(
    before,
    monkeypatch,
    agent,
    vectors,  # noqa: F811
    settings,
):
    """Ollama's (or its proxy's) refusal quoting the credential it refused was the reason
    as written, and retrieval put that reason in the prompt's memory ranking."""
    retrieval_through_ollama(settings)
    password = "s3cret-pass-0123456789abcdef"
    settings.OLLAMA_URL = f"http://ops:{password}@ollama.test:11434"
    said = f"unauthorized: {'x' * before} {password} refused".encode()
    answer = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: %d\r\n\r\n%s" % (len(said), said)
    Network(Clock(), Host(answers=[(0.0, answer)])).install(monkeypatch)

    section, injected = memory_context("devops", "volume friday")

    assert "fills up every Friday" in section
    assert password[:4] not in injected["memory_ranking"]
    assert "ollama answered 401: unauthorized: xxx" in injected["memory_ranking"]
