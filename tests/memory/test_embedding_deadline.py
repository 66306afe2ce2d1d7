"""An Ollama embedding request ends by one deadline (30 s), name lookup, connect and every read
together, as the model providers' calls do: its client gave each read the whole 30 s again and
the lookup no limit at all, so a host trickling its answer, or a resolver that never answered,
held retrieval (and the prompt waiting on it) as long as they liked. Past the deadline (or a
person's shorter one around it), EmbeddingError, which retrieval turns into full text, saying
why. The host sits behind fake sockets on a clock only they move (tests/fake_sockets.py); a
resolver that never answers is tests/fake_sockets.Resolver (names under .hung.test)."""

import contextlib
import threading
from decimal import Decimal

import pytest

from memory.embeddings import EmbeddingError, OllamaEmbedder
from memory.models import Memory
from memory.retrieval import memory_context
from opscore.http_deadline import LOOKUPS_AT_ONCE
from opscore.llm_deadline import answer_within
from tests.fake_sockets import Clock, Host, Lookup, Network
from tests.memory.test_memory_embeddings import vectors  # noqa: F401 (a fixture)

PROXIES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")
MODEL = "nomic-embed-text"
LATE = "no embedding within the 30 s an embedding request may take"
# An answer's head and its first byte 20 s after it was asked for, then a space every 20 s.
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n{"
TRICKLE = [(20, HEAD)] + [(20, b" ")] * 10


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    """Ollama reached directly, whatever proxies this machine's environment names."""
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def ollama_host(monkeypatch):
    return Network(Clock()).install(monkeypatch)


def embedding_failure(url: str = "http://ollama.test:11434") -> str:
    with pytest.raises(EmbeddingError) as failed:
        OllamaEmbedder(url, MODEL).embed(["disk pressure"])
    return str(failed.value)


def test_a_lookup_the_resolver_takes_minutes_over_ends_the_request_at_its_deadline(
    ollama_host,
):
    ollama_host.lookups.append(Lookup(seconds=300))
    asked = ollama_host.clock.now

    reason = embedding_failure()

    assert ollama_host.clock.now - asked == 30
    assert reason == f"ollama: {LATE} (ConnectTimeout)"


def test_an_answer_trickling_in_ends_at_the_deadline_not_a_read_timeout_per_byte(ollama_host):
    ollama_host.hosts.append(Host(answers=TRICKLE))
    asked = ollama_host.clock.now

    reason = embedding_failure()

    assert ollama_host.timeouts("read") == [30, 10]
    assert ollama_host.clock.now - asked == 30
    assert reason == f"ollama: {LATE} (ReadTimeout)"


def test_a_persons_shorter_deadline_around_it_ends_it_sooner(ollama_host):
    ollama_host.lookups.append(Lookup(seconds=300))
    asked = ollama_host.clock.now

    with answer_within(10):
        reason = embedding_failure()

    assert ollama_host.clock.now - asked == 10
    assert (
        reason
        == "ollama: no embedding within the 10 s a person waits for an answer (ConnectTimeout)"
    )


def retrieval_through_ollama(settings) -> None:
    """Retrieval embeds through Ollama at ollama.test, and devops remembers a Friday lesson."""
    settings.OPS_EMBEDDINGS, settings.OLLAMA_URL = "ollama", "http://ollama.test:11434"
    Memory.objects.create(
        agent_id="devops",
        type="lesson",
        content="db-1 volume fills up every Friday",
        confidence=Decimal("0.60"),
        source_trace_id="volume",
    )


@pytest.mark.django_db
def test_retrieval_whose_embedding_ran_out_of_time_falls_back_to_full_text_saying_why(
    ollama_host,
    agent,
    vectors,  # noqa: F811
    settings,
):
    retrieval_through_ollama(settings)
    ollama_host.lookups.append(Lookup(seconds=300))

    section, injected = memory_context("devops", "volume friday")

    assert "fills up every Friday" in section
    assert (
        injected["memory_ranking"]
        == f"full-text (embeddings failed: ollama: {LATE} (ConnectTimeout))"
    )


def failure_in_a_thread(url: str, person_waits: float | None = None) -> str:
    """The request's failure, made in a thread of its own so that one still waiting on the
    resolver fails the test instead of holding it (the resolver answers when the test ends);
    `person_waits`: the seconds of a person's deadline around it."""
    failures = []

    def embedding():
        ollama = OllamaEmbedder(url, MODEL)
        waiting = answer_within(person_waits) if person_waits else contextlib.nullcontext()
        try:
            with waiting:
                ollama.embed(["disk pressure"])
        except EmbeddingError as failed:
            failures.append(str(failed))

    asking = threading.Thread(target=embedding, daemon=True)
    asking.start()
    asking.join(timeout=60)  # far past any deadline here: only a request that hangs
    assert failures, f"the embedding request to {url} was still waiting after 60 s"
    return failures[0]


def test_a_name_the_resolver_never_answers_is_not_waited_for_past_the_deadline(hung_resolver):
    """A person's deadline of 0.1 s around it, so that the test waits no 30 s."""
    reason = failure_in_a_thread("http://ollama.hung.test:11434", person_waits=0.1)

    assert reason == (
        "ollama: no embedding within the 0.1 s a person waits for an answer (ConnectTimeout)"
    )


def test_past_the_most_lookups_at_once_the_request_is_refused_at_once_saying_why(hung_resolver):
    hung_resolver.given_up_on(*(f"name-{n}.hung.test" for n in range(LOOKUPS_AT_ONCE)))

    reason = failure_in_a_thread("http://ollama.hung.test:11434")

    assert reason == (
        f"ollama: ConnectError: not looking up ollama.hung.test: {LOOKUPS_AT_ONCE} name lookups"
        " already wait on the resolver, the most allowed at once"
    )
