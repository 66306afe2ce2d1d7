"""Memory retrieval: relevance on a labelled set (bench/memory_relevance.py: recall@10, MRR
and nDCG@10 for Opscore beside plain BM25 and vectors alone, on the same eligible rows); then
p50/p95 with 1k and 100k active memories over ten agents, beside a raw-SQL bucket query (the
union of three ordered, limited selects, no relevance) and a naive "load the agent's memories
and rank them in Python", all in the same run; plus what a prompt with memories adds to an
offline `analyze` step.

    .venv/bin/python bench/memory.py [--big 100000] [--queries 200] [--relevance-only]
                                     [--step-only]

`--step-only` fills the same 1k and then 100k memories and measures only the analyze step
(no relevance set, no latency rows): the quick loop for the step's cost.

Targets (issue 29): nDCG@10 ≥ 0.80, recall@10 ≥ 0.85, at least BM25 and vectors alone in every
category, no trap returned; retrieval p95 ≤ 10 ms lexical-only and ≤ 30 ms hybrid at 100k (the
hybrid rows when the `embeddings` extra is installed: bench/memory_vectors.py); memories add
≤ 10 % to an offline analyze step end to end. The raw-SQL baseline's (confidence, recency)
indexes went with the old walk (retrieval no longer reads them), so at 100k it scans: a floor no
longer, a contrast.
The latency fill draws 12 of 23 words per memory, so every query term matches ~40 % of the
store: the worst case for lexical candidates, which real vocabularies rarely reach.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import django_ready, percentiles, setup_bench_database
from bench.memory_vectors import fill_vectors, hybrid_contenders, provider_or_none, time_inner

WORDS = [
    "disk",
    "log",
    "deploy",
    "db-1",
    "friday",
    "backup",
    "latency",
    "cache",
    "queue",
    "retry",
    "lease",
    "cron",
    "tweet",
    "engagement",
    "budget",
    "token",
    "model",
    "prompt",
    "crawl",
    "outage",
    "alert",
    "digest",
    "review",
]
AGENTS = [f"agent-{n}" for n in range(10)]
RAW = """
(SELECT id, 1 AS bucket FROM memory_memory WHERE status = 'active' AND agent_id = %(a)s
   AND scope = 'agent' ORDER BY confidence DESC, created_at DESC LIMIT 4)
UNION ALL
(SELECT id, 2 FROM memory_memory WHERE status = 'active' AND type IN ('lesson','playbook',
   'constraint') AND (agent_id = %(a)s OR scope IN ('service','global'))
   ORDER BY confidence DESC, created_at DESC LIMIT 4)
UNION ALL
(SELECT id, 3 FROM memory_memory WHERE status = 'active' AND scope = 'global'
   AND type IN ('decision','preference','constraint') ORDER BY confidence DESC,
   created_at DESC LIMIT 4)
ORDER BY bucket LIMIT 10
"""


def fill(total: int, rand: random.Random) -> None:
    from memory.models import Memory

    kinds = ["lesson", "decision", "preference", "insight", "playbook", "constraint", "fact"]
    have = Memory.objects.count()
    batch = []
    for n in range(have, total):
        scope = rand.choice(["agent", "agent", "agent", "global", "service"])
        batch.append(
            Memory(
                agent_id=rand.choice(AGENTS),
                type=rand.choice(kinds),
                scope=scope,
                visibility="private" if scope == "agent" else "shared",
                content=" ".join(rand.choices(WORDS, k=12)),
                confidence=rand.randint(55, 95) / 100,
                source_trace_id=f"bench:{n}",
                subject_key="db-1" if scope == "service" else "",
            )
        )
        if len(batch) == 5000:
            Memory.objects.bulk_create(batch)
            batch = []
    Memory.objects.bulk_create(batch)
    from django.db import connection

    # A settled store, as autovacuum leaves one: a bulk insert of 100k rows otherwise leaves the
    # GIN index's pending list unflushed, and every full-text lookup reads all of it.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE memory_memory")


def time_each(queries: int, run, rand) -> dict:
    times = []
    for _ in range(queries):
        agent, topic = rand.choice(AGENTS), " ".join(rand.choices(WORDS, k=3))
        start = time.perf_counter()
        run(agent, topic)
        times.append((time.perf_counter() - start) * 1000)
    return percentiles(times)


def ours(agent, topic):
    from memory.retrieval import retrieve

    retrieve(agent, topic, ["db-1"])


def raw(agent, topic):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(RAW, {"a": agent})
        cursor.fetchall()


def raw_prepared(agent, topic):
    """The same raw query as a server-side prepared statement (no planning per call)."""
    import psycopg
    from django.db import connection

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(RAW, {"a": agent}, prepare=True)
        cursor.fetchall()


def ours_rare(agent, topic):
    """Worst case for the bounded walk: a word no memory holds, so every source reads WALK rows."""
    from memory.retrieval import retrieve

    retrieve(agent, "zymurgy", ["db-1"])


def naive(agent, topic):
    from memory.models import Memory

    words = set(topic.split())
    rows = Memory.objects.filter(status="active", agent_id=agent).values(
        "id", "content", "confidence"
    )
    scored = sorted(
        rows, key=lambda r: -(len(words & set(r["content"].split())) + float(r["confidence"]))
    )
    return scored[:10]


def backend_cpu_ms() -> float | None:
    """CPU the database backend serving this connection has used (the embedded server runs
    here, so /proc has it); None where the server is elsewhere."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def step_cost(steps: int, with_memories: bool) -> tuple[float, float | None]:
    """Wall time and CPU time (this process plus its database backend) per step, in ms."""
    from missions.worker import handle_one_step
    from opscore.models import Agent
    from opscore.prompting import CONTEXT_PROVIDERS
    from tests.factories import make_step

    saved = dict(CONTEXT_PROVIDERS)
    if not with_memories:
        CONTEXT_PROVIDERS.clear()
    agent = Agent.objects.get(slug="agent-0")
    for _ in range(steps):
        make_step("analyze", agent=agent, payload={"topic": "disk log db-1"})
    server, start, cpu = backend_cpu_ms(), time.perf_counter(), time.process_time()
    while handle_one_step("bench"):
        pass
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    CONTEXT_PROVIDERS.update(saved)
    after = backend_cpu_ms()
    both = None if server is None else cpu * 1000 + after - server
    return wall * 1000 / steps, None if both is None else both / steps


def step_costs(rounds: int = 50, steps: int = 20) -> tuple[list, list, float]:
    """Without and with memories in alternating rounds: on a shared machine a burst of load then
    lands on both sides, not on whichever ran second. Fifty rounds (a round is ~0.2 s): with
    ten, one burst moved the median by several points. CPU time is the steadier measure there
    (waiting for a core is not counted); wall time is what a step takes. The steps' calls queue
    their memories' uses; the heartbeat's fold that counts them is timed apart, per step."""
    from memory.uses import fold_memory_uses

    plain, with_memories, folding = [], [], 0.0
    for _ in range(rounds):
        plain.append(step_cost(steps, False))
        with_memories.append(step_cost(steps, True))
        start = time.perf_counter()
        fold_memory_uses()
        folding += time.perf_counter() - start
    return plain, with_memories, folding * 1000 / (rounds * steps)


def print_step_costs(plain: list, with_memories: list, folding: float) -> None:
    for n, what in enumerate(("wall", "CPU (client + database backend)")):
        if plain[0][n] is None:
            continue
        without = statistics.median(p[n] for p in plain)
        with_ = statistics.median(w[n] for w in with_memories)
        print(
            f"Offline analyze step, {what}: {without:.2f} ms without memories, {with_:.2f} ms "
            f"with (+{100 * (with_ / without - 1):.0f} %; target ≤ 10 %)"
        )
    print(f"Counting those uses (the heartbeat's fold, off the step): {folding:.3f} ms a step")


CONTENDERS = (
    ("opscore", ours),
    ("rare word", ours_rare),
    ("raw SQL", raw),
    ("raw prep", raw_prepared),
    ("naive", naive),
)


def report(total: int, queries: int, rand, provider=None) -> None:
    results = {name: time_each(queries, fn, rand) for name, fn in CONTENDERS}
    if provider is not None:
        fill_vectors(provider, WORDS)
        for name, fn in hybrid_contenders(provider):
            results[name] = time_inner(queries, fn, rand, AGENTS, WORDS)
    for name, stats in results.items():
        print(f"  {total:>7} memories  {name:<8} p50 {stats['p50']:6.2f}  p95 {stats['p95']:6.2f}")
    for baseline in ("raw SQL", "raw prep"):
        ratio = results["opscore"]["p95"] / results[baseline]["p95"]
        print(f"  {total:>7} memories  opscore p95 / {baseline} p95 = {ratio:.2f} (target ≤ 2)")
    if provider is None:
        print(f"  {total:>7} memories  hybrid: no embedding model (the `embeddings` extra)")


def relevance_first(keep: bool) -> None:
    """The labelled set goes in and out before the latency fill, so neither skews the other."""
    from bench.memory_relevance import report as relevance_report
    from memory.models import Memory

    relevance_report()
    if not keep:
        Memory.objects.filter(source_trace_id__startswith="relevance:").delete()


def lexical_only() -> None:
    """The lexical rows and the analyze step run full-text alone whatever OPS_EMBEDDINGS says
    (the hybrid rows bring their own provider): each row measures one thing."""
    from memory import retrieval

    retrieval.embedder = lambda: None


def latency_rows(args, rand) -> None:
    provider = provider_or_none()
    print(f"Retrieval over ten agents, {args.queries} queries each (ms)")
    for total in (args.small, args.big):
        fill(total, rand)
        report(total, args.queries, rand, provider)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--relevance-only", action="store_true")
    parser.add_argument("--step-only", action="store_true")
    args = parser.parse_args()
    setup_bench_database("opscore_bench_memory")
    django_ready(migrate=True)
    from opscore.models import Agent

    Agent.objects.bulk_create(
        Agent(
            slug=a,
            display_name=a,
            role="bench",
            enabled=True,
            daily_proposal_limit=100_000,
            max_concurrent_steps=100,
        )
        for a in AGENTS
    )
    if not args.step_only:
        relevance_first(args.relevance_only)
    if args.relevance_only:
        return
    rand = random.Random(7)
    lexical_only()
    if args.step_only:
        fill(args.small, rand)
        fill(args.big, rand)
    else:
        latency_rows(args, rand)
    step_cost(20, True)  # warm both paths (the function's cached plan, the LLM row)
    print_step_costs(*step_costs())


if __name__ == "__main__":
    main()
