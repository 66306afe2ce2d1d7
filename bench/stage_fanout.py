"""Stage fan-out: how long an event takes from its commit to every watching browser.

    .venv/bin/python bench/stage_fanout.py [--viewers 200,1000] [--events 30] [--webs 2]

Starts the real ASGI server (uvicorn) on a throwaway database — `--webs` of them, the viewers
spread over them round-robin — connects one viewer, then each of `--viewers` at once, and
writes `--events` events at 5 a second from this process. For each event and viewer: arrival
time minus commit time (one clock, this process). Prints p50 / p95 per run, viewers that
missed an event, and the servers' CPU per event (all of them), with each many-viewer run as a
ratio of the one-viewer run. Set REDIS_URL to measure the Redis channel layer (with two webs:
two processes of one node, which elect one reader between them).
"""

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import django_ready, percentiles, setup_bench_database


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def servers_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


async def viewer(url: str, arrivals: dict, ready: asyncio.Event, done: asyncio.Event):
    import websockets

    seen = arrivals.setdefault(id(asyncio.current_task()), {})
    origin = url.replace("ws://", "http://").split("/ws/")[0]  # the Stage refuses other origins
    async with websockets.connect(url, origin=origin, max_size=None, open_timeout=30) as socket:
        ready.set()
        while not done.is_set():
            try:
                message = await asyncio.wait_for(socket.recv(), timeout=0.5)
            except TimeoutError:
                continue
            now = time.perf_counter()
            for moment in json.loads(message).get("moments", []):
                seen.setdefault(moment["id"], now)


def write_events(count: int, committed: dict) -> None:
    from opscore.actions import record_event

    for n in range(count):
        event = record_event("bench.fanout", f"fan-out event {n}")  # autocommit: committed
        committed[event.id] = time.perf_counter()
        time.sleep(0.2)


async def run(base_urls: list[str], viewers: int, events: int, pids: list[int]) -> dict:
    """Viewers connect as a page does: after the newest event the page was rendered with."""
    from asgiref.sync import sync_to_async

    from opscore.models import Event

    newest = await sync_to_async(lambda: Event.objects.order_by("-id").first())()
    urls = [f"{base}?after={newest.id if newest else 0}" for base in base_urls]
    arrivals: dict = {}
    done = asyncio.Event()
    readies = [asyncio.Event() for _ in range(viewers)]
    tasks = [
        asyncio.create_task(viewer(urls[n % len(urls)], arrivals, r, done))
        for n, r in enumerate(readies)
    ]
    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=300)
    print(f"  {viewers} viewer(s) connected in {time.perf_counter() - started:.1f} s", flush=True)
    await asyncio.sleep(2)  # every viewer is listening
    committed: dict[int, float] = {}
    cpu_before, client_before = servers_cpu(pids), time.process_time()
    writer = threading.Thread(target=write_events, args=(events, committed))
    writer.start()
    while writer.is_alive():
        await asyncio.sleep(0.1)
    await asyncio.sleep(3)  # the last event's fan-out
    cpu, client = servers_cpu(pids) - cpu_before, time.process_time() - client_before
    done.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    delays, missed = [], 0
    for seen in arrivals.values():
        got = [seen[i] - at for i, at in committed.items() if i in seen]
        missed += len(got) < len(committed)
        delays += [d * 1000 for d in got]
    return percentiles(delays) | {
        "missed": missed,
        "cpu_ms_per_event": cpu * 1000 / events,
        "client_ms_per_event": client * 1000 / events,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", default="200", help="sizes, comma-separated: 200,1000")
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--webs", type=int, default=1, help="ASGI server processes")
    args = parser.parse_args()
    sizes = [int(size) for size in args.viewers.split(",")]
    setup_bench_database("opscore_bench_fanout")
    django_ready(migrate=True)
    from django.conf import settings

    from tests.processes import spawn_web

    env = os.environ | {"SECRET_KEY": settings.SECRET_KEY, "LOG_LEVEL": "WARNING"}
    servers = [spawn_web(env) for _ in range(args.webs)]
    urls = [base.replace("http://", "ws://") + "/ws/stage/" for _, base in servers]
    pids = [server.pid for server, _ in servers]
    layer = "Redis" if os.environ.get("REDIS_URL") else "in-memory"
    try:
        results = {size: asyncio.run(run(urls, size, args.events, pids)) for size in [1, *sizes]}
    finally:
        for server, _ in servers:
            server.terminate()
            server.wait(timeout=10)
    report(results, args.events, f"{layer} channel layer, {args.webs} web process(es)")


def report(results: dict, events: int, where: str) -> None:
    print(f"Stage fan-out, {events} events at 5/s, {where} (ms):")
    for size, result in results.items():
        name = "1 viewer" if size == 1 else f"{size} viewers"
        print(
            f"  {name:>12}  p50 {result['p50']:7.1f}  p95 {result['p95']:7.1f}  "
            f"missed {result['missed']}  server CPU {result['cpu_ms_per_event']:.1f} ms/event "
            f"(viewers' CPU {result['client_ms_per_event']:.1f})"
        )
    one = results[1]
    for size, many in results.items():
        if size == 1:
            continue
        print(
            f"  ratio {size}/1: p95 {many['p95'] / max(one['p95'], 0.001):.1f}x, "
            f"CPU {many['cpu_ms_per_event'] / max(one['cpu_ms_per_event'], 0.001):.1f}x "
            f"(goal: p95 <= 100 ms, CPU <= 2x, none missed)"
        )


if __name__ == "__main__":
    main()
