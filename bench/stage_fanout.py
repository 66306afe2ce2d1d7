"""Stage fan-out: how long an event takes from its commit to every watching browser.

    .venv/bin/python bench/stage_fanout.py [--viewers 200] [--events 30]

Starts the real ASGI server (uvicorn) on a throwaway database, connects one viewer, then
`--viewers` at once, and writes `--events` events at 5 a second from this process. For each
event and viewer: arrival time minus commit time (one clock, this process). Prints p50 / p95
per run, viewers that missed an event, and the server's CPU per event, with the many-viewer
run as a ratio of the one-viewer run. Set REDIS_URL to measure the Redis channel layer.
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


async def run(base_url: str, viewers: int, events: int, pid: int) -> dict:
    """Viewers connect as a page does: after the newest event the page was rendered with."""
    from asgiref.sync import sync_to_async

    from opscore.models import Event

    newest = await sync_to_async(lambda: Event.objects.order_by("-id").first())()
    url = f"{base_url}?after={newest.id if newest else 0}"
    arrivals: dict = {}
    done = asyncio.Event()
    readies = [asyncio.Event() for _ in range(viewers)]
    tasks = [asyncio.create_task(viewer(url, arrivals, r, done)) for r in readies]
    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=300)
    print(f"  {viewers} viewer(s) connected in {time.perf_counter() - started:.1f} s", flush=True)
    await asyncio.sleep(2)  # every viewer is listening
    committed: dict[int, float] = {}
    cpu_before, client_before = cpu_seconds(pid), time.process_time()
    writer = threading.Thread(target=write_events, args=(events, committed))
    writer.start()
    while writer.is_alive():
        await asyncio.sleep(0.1)
    await asyncio.sleep(3)  # the last event's fan-out
    cpu, client = cpu_seconds(pid) - cpu_before, time.process_time() - client_before
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
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--events", type=int, default=30)
    args = parser.parse_args()
    setup_bench_database("opscore_bench_fanout")
    django_ready(migrate=True)
    from django.conf import settings

    from tests.processes import spawn_web

    env = os.environ | {"SECRET_KEY": settings.SECRET_KEY, "LOG_LEVEL": "WARNING"}
    server, base = spawn_web(env)
    url = base.replace("http://", "ws://") + "/ws/stage/"
    layer = "Redis" if os.environ.get("REDIS_URL") else "in-memory"
    try:
        one = asyncio.run(run(url, 1, args.events, server.pid))
        many = asyncio.run(run(url, args.viewers, args.events, server.pid))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"Stage fan-out, {args.events} events at 5/s, {layer} channel layer (ms):")
    for name, result in ((" 1 viewer", one), (f"{args.viewers} viewers", many)):
        print(
            f"  {name:>12}  p50 {result['p50']:7.1f}  p95 {result['p95']:7.1f}  "
            f"missed {result['missed']}  server CPU {result['cpu_ms_per_event']:.1f} ms/event "
            f"(viewers' CPU {result['client_ms_per_event']:.1f})"
        )
    print(
        f"  ratio {args.viewers}/1: p95 {many['p95'] / max(one['p95'], 0.001):.1f}x, "
        f"CPU {many['cpu_ms_per_event'] / max(one['cpu_ms_per_event'], 0.001):.1f}x "
        f"(target: p95 <= 250 ms, none missed)"
    )


if __name__ == "__main__":
    main()
