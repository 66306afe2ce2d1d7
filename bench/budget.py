"""The LLM budget check, which runs before every model call, as the day's calls pile up: Opscore's
check (today's LLMSpend rows, kept by a trigger as calls are written) beside the raw-SQL sum
over every call of the day that it replaced, measured in the same run.

    .venv/bin/python bench/budget.py [--days-calls 1000,10000,50000] [--checks 200]

Prints the median ms of a check and of the sum at each size, and their ratio; the check should
stay flat as the day grows, the sum grows with it.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import django_ready, setup_bench_database

RAW_SUM = """
SELECT sum(cost_usd), sum(cost_usd) FILTER (WHERE agent_id = %s),
       sum(cost_usd) FILTER (WHERE lane = %s)
FROM opscore_llmcall WHERE created_at >= date_trunc('day', now())
"""


def median_ms(work, times: int) -> float:
    for _ in range(10):
        work()
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def add_calls(agents: list, count: int) -> None:
    """A day's calls, priced, spread over the agents and two lanes, written in bulk (the
    trigger keeps the sums for these as for any call)."""
    from opscore.models import LLMCall

    LLMCall.objects.bulk_create(
        LLMCall(
            agent=agents[n % len(agents)],
            lane="steps" if n % 3 else "other",
            purpose="bench",
            provider="anthropic",
            model="m",
            prompt_version="v",
            outcome="ok",
            cost_usd="0.0001",
        )
        for n in range(count)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days-calls", default="1000,10000,50000")
    parser.add_argument("--checks", type=int, default=200)
    args = parser.parse_args()
    setup_bench_database("opscore_bench_budget")
    django_ready(migrate=True)
    from django.db import connection

    from opscore.budgets import todays_spend
    from opscore.models import Agent

    agents = [
        Agent.objects.create(slug=f"bench-{n}", display_name=f"Bench {n}", role="bench")
        for n in range(50)
    ]
    made = 0
    print("calls today   budget check (ms)   raw SQL sum of the day's calls (ms)   ratio")
    for size in (int(s) for s in args.days_calls.split(",")):
        add_calls(agents, size - made)
        made = size
        with connection.cursor() as cursor:
            # Settled, as autovacuum leaves them: one bulk transaction updated each sum row
            # thousands of times, where calls committed one by one are pruned as they go.
            cursor.execute("VACUUM ANALYZE opscore_llmcall, opscore_llmspend")
            ours = median_ms(lambda: todays_spend(agents[0], "steps"), args.checks)
            raw = median_ms(
                lambda: (cursor.execute(RAW_SUM, [agents[0].slug, "steps"]), cursor.fetchone()),
                args.checks,
            )
        print(f"{size:>11}   {ours:17.3f}   {raw:35.3f}   {ours / raw:5.2f}")


if __name__ == "__main__":
    main()
