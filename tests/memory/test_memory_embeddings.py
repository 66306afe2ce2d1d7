"""Optional embeddings: Ollama's /api/embed through a fake transport, vectors filled for active
memories, vectors as a candidate source fused with full text, and a failing provider falling
back to text."""

import json
from decimal import Decimal

import httpx
import pytest

from memory import retrieval
from memory.embeddings import (
    EmbeddingError,
    LocalEmbedder,
    OllamaEmbedder,
    embed_pending,
    forget_query_vectors,
    vectors_available,
)
from memory.models import Memory
from memory.retrieval import memory_context, ranked

pytestmark = pytest.mark.django_db
GROUPS = [("disk", "volume", "storage"), ("friday",), ("deploy",), ("tweet", "post")]


class FakeEmbedder:
    """Words of a group share a dimension: 'storage' lands near 'volume' with no word in common."""

    name, model = "fake", "fake-v1"

    def embed(self, texts):
        return [[0.01, *(float(any(w in t.lower() for w in g)) for g in GROUPS)] for t in texts]


class BrokenEmbedder(FakeEmbedder):
    def embed(self, texts):
        raise EmbeddingError("ollama: ConnectError")


@pytest.fixture
def vectors():
    if not vectors_available():
        pytest.skip("this database has no pgvector (the embedded server ships it)")
    forget_query_vectors()
    yield
    forget_query_vectors()


def remember(content, confidence, agent="devops", **fields):
    return Memory.objects.create(
        agent_id=agent,
        type="lesson",
        content=content,
        confidence=Decimal(confidence),
        source_trace_id=content,
        **fields,
    )


def test_vectors_reorder_what_full_text_alone_orders_by_confidence(agent, vectors, monkeypatch):
    volume = remember("db-1 volume fills up every Friday", "0.60")
    deploys = remember("deploys on Friday go badly", "0.90")
    assert embed_pending(FakeEmbedder()) == {"embedded": 2}
    text_only, ranking = ranked("devops", "storage pressure on friday")
    assert (ranking, text_only[0].memory.id) == ("full-text", deploys.id)

    monkeypatch.setattr(retrieval, "embedder", lambda: FakeEmbedder())
    hybrid, ranking = ranked("devops", "storage pressure on friday")

    assert (ranking, [r.memory.id for r in hybrid]) == ("hybrid", [volume.id, deploys.id])
    assert "memory_embedding_hnsw_5" in index_names()
    assert embed_pending(FakeEmbedder()) == {"embedded": 0}  # nothing left to do


def test_fusion_weighs_the_margins_not_only_the_ranks(agent, vectors, monkeypatch):
    """Full text finds both words in one memory and one word in the other; the vector puts the
    second a little closer. By rank alone they tie (first once each); by score the memory that
    holds the query's words wins."""
    both = remember("caching the volume snapshots on friday", "0.60")
    one = remember("the volume is slow", "0.60")
    embed_pending(FakeEmbedder())
    monkeypatch.setattr(retrieval, "embedder", lambda: FakeEmbedder())

    hybrid, ranking = ranked("devops", "caching volume")

    assert (ranking, [r.memory.id for r in hybrid]) == ("hybrid", [both.id, one.id])


class CountingEmbedder(FakeEmbedder):
    calls = 0

    def embed(self, texts):
        CountingEmbedder.calls += 1
        return super().embed(texts)


def test_a_paraphrase_sharing_no_word_is_found_through_its_vector_and_nothing_else(
    agent, vectors, monkeypatch
):
    from tests.factories import AgentFactory

    AgentFactory(slug="security")
    volume = remember("db-1 volume fills up every Friday", "0.60")
    remember("deploys go badly", "0.90")
    remember("my private volume worry", "0.90", agent="security")
    stale = remember("stale volume advice", "0.90")
    embed_pending(FakeEmbedder())
    Memory.objects.filter(pk=stale.pk).update(status="stale")
    assert ranked("devops", "storage pressure")[0] == []  # no word in common: text finds none
    monkeypatch.setattr(retrieval, "embedder", lambda: CountingEmbedder())

    ranked("devops", "storage pressure")
    hybrid, ranking = ranked("devops", "storage pressure")

    assert (ranking, [r.memory.id for r in hybrid]) == ("hybrid", [volume.id])
    assert CountingEmbedder.calls == 1  # the context was embedded once


class TableEmbedder:
    """Vectors by hand: `table` maps a text to its vector, any other text is its own axis."""

    name, model = "table", "table-v1"

    def __init__(self, table, width=40):
        self.table, self.width = table, width

    def embed(self, texts):
        return [self.table.get(t) or self.axis(t) for t in texts]

    def axis(self, text):
        vector = [0.0] * self.width
        vector[int(text.rsplit(" ", 1)[-1])] = 1.0
        return vector


def unrelated_store(count=20, shared=0.0):
    """`count` memories on their own axes, sharing `shared` of a common one: their pairwise
    similarity, the store's noise, is shared² / (1 + shared²)."""
    table = {}
    for n in range(1, count + 1):
        text = f"unrelated note {n}"
        table[text] = [shared] + [float(i == n) for i in range(1, 40)]
        remember(text, "0.70")
    return table


def test_a_modest_cosine_above_the_stores_noise_is_found(agent, vectors, monkeypatch):
    """all-MiniLM-L6-v2 puts real paraphrases near 0.2: above what unrelated memories share,
    such a neighbour is a candidate, whatever a fixed floor would have said."""
    table = unrelated_store()
    volume = remember("db-1 volume fills up every Friday", "0.60")
    table[volume.content] = [0.0] * 39 + [1.0]
    table["storage pressure"] = [0.0] * 38 + [0.968, 0.25]  # cosine 0.25 to the volume
    provider = TableEmbedder(table)
    embed_pending(provider)
    monkeypatch.setattr(retrieval, "embedder", lambda: provider)

    hybrid, ranking = ranked("devops", "storage pressure")

    assert (ranking, [r.memory.id for r in hybrid]) == ("hybrid", [volume.id])


def test_a_neighbour_no_closer_than_the_stores_own_memories_leaves_the_slot_empty(
    agent, vectors, monkeypatch
):
    table = unrelated_store(shared=1.0)  # pairs of memories: cosine 0.5
    near_as_noise = remember("quarterly planning notes", "0.90")
    table[near_as_noise.content] = [0.0] * 39 + [1.0]
    table["storage pressure"] = [0.0] * 38 + [0.9165, 0.4]  # cosine 0.4 to the closest memory
    provider = TableEmbedder(table)
    embed_pending(provider)
    monkeypatch.setattr(retrieval, "embedder", lambda: provider)

    assert ranked("devops", "storage pressure") == ([], "hybrid")


def test_a_failing_provider_falls_back_to_full_text_and_says_so(agent, vectors, monkeypatch):
    remember("db-1 volume fills up every Friday", "0.60")
    monkeypatch.setattr(retrieval, "embedder", lambda: BrokenEmbedder())

    section, injected = memory_context("devops", "volume friday")

    assert "fills up every Friday" in section
    assert injected["memory_ranking"] == "full-text (embeddings failed: ollama: ConnectError)"


def index_names() -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'memory_memory'")
        return {row[0] for row in cursor.fetchall()}


def test_ollama_embed_speaks_the_api_and_refuses_a_malformed_answer():
    seen = []

    def answer(request):
        seen.append(json.loads(request.content))
        body = {"embeddings": [[0.1, 0.2], [0.3, 0.4]]} if len(seen) == 1 else {"embeddings": [[1]]}
        return httpx.Response(200, json=body)

    ollama = OllamaEmbedder("http://ollama", "nomic-embed-text", httpx.MockTransport(answer))

    assert ollama.embed(["a", "b"]) == [[0.1, 0.2], [0.3, 0.4]]
    assert seen[0] == {"model": "nomic-embed-text", "input": ["a", "b"]}
    with pytest.raises(EmbeddingError, match="expected 2 vectors"):
        ollama.embed(["a", "b"])


def test_the_local_model_says_how_to_install_it():
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        with pytest.raises(EmbeddingError, match=r'pip install -e "\.\[embeddings\]"'):
            LocalEmbedder().embed(["x"])
    else:
        pytest.skip("the embeddings extra is installed here")


class BannerModel:
    """Stands in for sentence-transformers at the library boundary: it talks on stdout."""

    def __init__(self, path):
        print("Loading all-MiniLM-L6-v2 ... done")

    def encode(self, texts):
        print("Batches: 100%")
        return [[0.01, float("disk" in t.lower()), 0.0] for t in texts]


def test_local_model_chatter_never_reaches_the_json_on_stdout(
    agent, vectors, settings, monkeypatch, tmp_path, capfd
):
    import sys
    import types
    from io import StringIO

    from django.core.management import call_command

    from memory import embeddings

    settings.OPS_EMBEDDINGS, settings.DATA_DIR = "local", tmp_path
    extractor = types.SimpleNamespace(extract_model=lambda target: print(f"extracting to {target}"))
    monkeypatch.setitem(sys.modules, "all_minilm_l6_v2", extractor)
    monkeypatch.setitem(
        sys.modules, "sentence_transformers", types.SimpleNamespace(SentenceTransformer=BannerModel)
    )
    embeddings.local_model.cache_clear()
    memory = remember("the disk on db-1 fills up", "0.70")
    embedded, found, found_after = StringIO(), StringIO(), StringIO()
    try:
        call_command("memory", "--json", "embed", stdout=embedded)
        search = ["search", "--agent", "devops", "--query", "disk"]
        call_command("memory", "--json", *search, stdout=found)
        call_command("memory", *search, "--json", stdout=found_after)  # the README's form
    finally:
        embeddings.local_model.cache_clear()

    printed = capfd.readouterr()
    assert "Loading" not in printed.out and "Batches" not in printed.out
    assert "Loading all-MiniLM" in printed.err
    assert json.loads(embedded.getvalue()) == {"embedded": 1}
    assert [row["id"] for row in json.loads(found.getvalue())] == [memory.id]
    assert [row["id"] for row in json.loads(found_after.getvalue())] == [memory.id]
