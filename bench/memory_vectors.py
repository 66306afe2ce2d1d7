"""The hybrid half of bench/memory.py's latency table: vectors for the fill, and the contenders
that time retrieval with them.

Embedding 100k memories with all-MiniLM-L6-v2 takes about ten minutes on two busy cores, so
the fill's vectors are stand-ins: each memory's is the sum of its words' vectors, every word
embedded once by the real model. Same width, same HNSW index, same query path: what latency
depends on. The query is the real model's. A step embeds its context once (memory.embeddings
caches it), so the retrieval row times a cached query vector and the embedding is timed on its
own: a step pays both, once.
"""

import time

from bench.harness import percentiles

WORD_VECTORS = """CREATE TEMP TABLE bench_word (word text PRIMARY KEY, v vector)"""
COMPOSE = """UPDATE memory_memory m SET embedding_model = %s, embedding = (
        SELECT sum(w.v) FROM unnest(string_to_array(m.content, ' ')) AS t(word)
        JOIN bench_word w USING (word))
    WHERE m.embedding IS NULL"""


def provider_or_none():
    """The local model when the `embeddings` extra is installed and pgvector is there."""
    from bench.memory_relevance import local_model
    from memory.embeddings import vectors_available

    return local_model() if vectors_available() else None


def fill_vectors(provider, words: list[str]) -> None:
    """Give every memory without a vector its stand-in, then (re)build the HNSW index in one go:
    inserting 100k rows into a live HNSW index one by one costs minutes more than building it."""
    from django.db import connection

    from memory.embeddings import as_literal, ensure_index, forget_query_vectors

    vectors = provider.embed(words)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_word")
        cursor.execute(WORD_VECTORS)
        cursor.executemany(
            "INSERT INTO bench_word VALUES (%s, %s::vector)",
            [(w, as_literal(v)) for w, v in zip(words, vectors, strict=True)],
        )
        cursor.execute(f"DROP INDEX IF EXISTS memory_embedding_hnsw_{len(vectors[0])}")
        cursor.execute(COMPOSE, [provider.model])
        cursor.execute("SET maintenance_work_mem = '512MB'")
        ensure_index(len(vectors[0]))
        cursor.execute("RESET maintenance_work_mem")
        cursor.execute("VACUUM ANALYZE memory_memory")  # the rows the update left behind
    forget_query_vectors()  # and the noise floor calibrated on the smaller store


def hybrid_contenders(provider) -> tuple:
    """(name, run) pairs for bench/memory.py's latency table."""
    from memory import retrieval
    from memory.embeddings import query_vector

    def hybrid(agent, topic):
        query_vector(provider, topic)  # embedded once per step: timed on its own below
        saved, retrieval.embedder = retrieval.embedder, lambda: provider
        try:
            start = time.perf_counter()
            retrieval.retrieve(agent, topic, ["db-1"])
            return (time.perf_counter() - start) * 1000
        finally:
            retrieval.embedder = saved

    def embed(agent, topic):
        start = time.perf_counter()
        provider.embed([f"{topic} {agent}"])  # a context no cache has seen
        return (time.perf_counter() - start) * 1000

    return (("hybrid", hybrid), ("embed q", embed))


def time_inner(queries: int, run, rand, agents, words) -> dict:
    """Like bench/memory.time_each, for contenders that time their own inner part."""
    times = []
    for _ in range(queries):
        agent, topic = rand.choice(agents), " ".join(rand.choices(words, k=3))
        times.append(run(agent, topic))
    return percentiles(times)
