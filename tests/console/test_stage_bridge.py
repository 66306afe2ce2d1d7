"""The Stage's bridge (Postgres NOTIFY → channel-layer group) outlives an outage of the channel
layer: it reconnects by itself and sends what was written meanwhile, with no browser needed to
restart it."""

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import subprocess

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer

from console.stage import bridge as bridges
from console.stage.bridge import (
    bridge,
    latest_id,
    local_route,
    node_route,
    relay,
    route_for,
)
from opscore.models import Event
from tests.processes import free_port

pytestmark = pytest.mark.django_db(transaction=True)
GUARD_SECONDS = 20  # only bounds a broken run; nothing asserts on how long anything took


class LayerWithOutage(InMemoryChannelLayer):
    """The channel layer seam: while `down`, sending fails as a lost Redis connection does."""

    def __init__(self):
        super().__init__()
        self.down = False
        self.refused = asyncio.Event()

    async def group_send(self, group, message):
        if self.down:
            self.refused.set()
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")
        await super().group_send(group, message)


@database_sync_to_async
def write_event(title: str) -> int:
    return Event.objects.create(kind="test.fact", title=title).id


async def watching(layer):
    """A browser's channel in its process's group, and that process's bridge started from the
    newest event (two calls: two ASGI processes sharing one channel layer, as over Redis)."""
    channel, route = await layer.new_channel(), local_route()
    await layer.group_add(route.group, channel)
    task = asyncio.create_task(bridge(layer, route, await latest_id()))
    return channel, task


def html_of(batch: dict) -> str:
    """What the browser gets: the batch's finished text, as sent."""
    return json.loads(batch["text"])["html"]


async def stop(task):
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_a_failed_send_is_retried_and_the_event_still_arrives():
    async def scenario():
        layer = LayerWithOutage()
        layer.down = True
        channel, task = await watching(layer)
        try:
            await write_event("written while the layer was down")
            await asyncio.wait_for(layer.refused.wait(), GUARD_SECONDS)
            layer.down = False
            batch = await asyncio.wait_for(layer.receive(channel), GUARD_SECONDS)
        finally:
            await stop(task)
        assert "written while the layer was down" in html_of(batch)

    async_to_sync(scenario)()


class PrivateRedis:
    """A redis-server of the test's own on a free loopback port, saving to its directory on
    SIGTERM so a restart keeps the group memberships (as a packaged Redis does)."""

    def __init__(self, directory):
        self.port, self.directory, self.process = free_port(), directory, None

    def start(self):
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.directory), "--save", "3600 1", "--appendonly", "no"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        for _ in range(200):
            if self.process.poll() is not None:
                break
            with contextlib.suppress(redis.exceptions.ConnectionError):
                if client.ping():
                    return
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.05)
        raise RuntimeError("the private redis-server did not answer")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=GUARD_SECONDS)


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: the real-outage test needs one to restart")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_after_a_real_redis_restart_the_bridge_carries_events_again(private_redis, caplog):
    caplog.set_level(logging.WARNING, logger="console.stage.bridge")

    async def bridge_complained():
        while not any("bridge" in r.getMessage() for r in caplog.records):
            await asyncio.sleep(0.05)

    async def scenario():
        layer = RedisChannelLayer(hosts=[f"redis://127.0.0.1:{private_redis.port}/0"])
        channel, task = await watching(layer)
        try:
            await write_event("before the outage")
            before = await asyncio.wait_for(layer.receive(channel), GUARD_SECONDS)
            private_redis.stop()
            await write_event("during the outage")
            await asyncio.wait_for(bridge_complained(), GUARD_SECONDS)
            private_redis.start()
            after = await asyncio.wait_for(layer.receive(channel), GUARD_SECONDS)
        finally:
            await stop(task)
            await layer.flush()
        assert "before the outage" in html_of(before)
        assert "during the outage" in html_of(after)

    async_to_sync(scenario)()


class CountingLayer(InMemoryChannelLayer):
    """One layer every process shares (as Redis is); it tells when `expected` sends are done."""

    def __init__(self, expected: int):
        super().__init__()
        self.expected, self.sent = expected, asyncio.Event()

    async def group_send(self, group, message):
        await super().group_send(group, message)
        self.expected -= 1
        if self.expected == 0:
            self.sent.set()

    def waiting(self, channel) -> list[dict]:
        return waiting(self, channel)


def waiting(layer: InMemoryChannelLayer, channel) -> list[dict]:
    queue = layer.channels.get(channel)
    return [queue.get_nowait()[1] for _ in range(queue.qsize())] if queue else []


def test_two_processes_bridges_send_each_viewer_each_batch_once():
    async def scenario():
        layer = CountingLayer(expected=2)  # one batch from each process's bridge
        first_viewer, first_bridge = await watching(layer)
        second_viewer, second_bridge = await watching(layer)
        try:
            await write_event("seen once by every viewer")
            await asyncio.wait_for(layer.sent.wait(), GUARD_SECONDS)
        finally:
            await stop(first_bridge)
            await stop(second_bridge)
        for viewer in (first_viewer, second_viewer):
            batches = layer.waiting(viewer)
            assert len(batches) == 1
            assert "seen once by every viewer" in html_of(batches[0])

    async_to_sync(scenario)()


class RecordingLayer(InMemoryChannelLayer):
    """A layer the processes of one node share (as Redis is), keeping every group message."""

    def __init__(self):
        super().__init__()
        self.sent: list[dict] = []

    async def group_send(self, group, message):
        self.sent.append(message)
        await super().group_send(group, message)

    async def until_sent(self, count: int):
        while len(self.sent) < count:
            await asyncio.sleep(0.01)


def titles_sent(layer: RecordingLayer) -> list[str]:
    return [html_of(message) for message in layer.sent]


def test_with_a_shared_layer_a_node_has_one_group_and_one_reader_lock():
    shared = RedisChannelLayer(hosts=["redis://127.0.0.1:1/0"])  # never connected
    assert route_for(shared) == route_for(shared)
    assert route_for(shared).reader_lock
    assert node_route("node-a") != node_route("node-b")
    one_process, other = route_for(InMemoryChannelLayer()), route_for(InMemoryChannelLayer())
    assert one_process.group != other.group and not one_process.reader_lock


def test_two_processes_of_one_node_read_and_send_each_batch_once(monkeypatch):
    monkeypatch.setattr(bridges, "FOLLOW_SECONDS", 0.02)  # the other keeps trying meanwhile

    async def scenario():
        layer, route = RecordingLayer(), node_route("node-a")
        viewers = [await layer.new_channel() for _ in range(2)]
        for viewer in viewers:
            await layer.group_add(route.group, viewer)
        start = await latest_id()
        readers = [asyncio.create_task(bridge(layer, route, start)) for _ in range(2)]
        try:
            await write_event("the first event")
            await asyncio.wait_for(layer.until_sent(1), GUARD_SECONDS)
            await write_event("the second event")
            await asyncio.wait_for(layer.until_sent(2), GUARD_SECONDS)
        finally:
            for task in readers:
                await stop(task)
        assert len(layer.sent) == 2
        assert "the first event" in titles_sent(layer)[0]
        assert "the second event" in titles_sent(layer)[1]
        for viewer in viewers:
            assert [m["text"] for m in waiting(layer, viewer)] == [m["text"] for m in layer.sent]

    async_to_sync(scenario)()


def test_when_the_nodes_reader_stops_another_process_takes_over(monkeypatch):
    monkeypatch.setattr(bridges, "FOLLOW_SECONDS", 0.02)

    async def scenario():
        layer, route = RecordingLayer(), node_route("node-a")
        start = await latest_id()
        first = asyncio.create_task(bridge(layer, route, start))
        await write_event("while the first process reads")
        await asyncio.wait_for(layer.until_sent(1), GUARD_SECONDS)
        second = asyncio.create_task(bridge(layer, route, start))
        try:
            await stop(first)  # its connection, and with it the reader lock, goes
            await write_event("after the first process stopped")
            await asyncio.wait_for(layer.until_sent(2), GUARD_SECONDS)
        finally:
            await stop(second)
        assert "after the first process stopped" in titles_sent(layer)[-1]

    async_to_sync(scenario)()


class Browser:
    """A socket as the relay sees it: the texts it was handed."""

    def __init__(self):
        self.got: list[str] = []

    async def deliver(self, message):
        self.got.append(message["text"])


def test_a_process_takes_each_batch_once_and_hands_every_socket_the_same_text():
    async def scenario():
        layer, route = RecordingLayer(), local_route()
        browsers = {Browser() for _ in range(3)}
        relaying = asyncio.create_task(relay(layer, route.group, browsers))
        while not layer.groups.get(route.group):
            await asyncio.sleep(0.01)
        reading = asyncio.create_task(bridge(layer, route, await latest_id()))
        try:
            await write_event("handed to every socket")
            while not all(browser.got for browser in browsers):
                await asyncio.wait_for(asyncio.sleep(0.01), GUARD_SECONDS)
        finally:
            await stop(reading)
            await stop(relaying)
        assert len(layer.groups[route.group]) == 1  # the process's channel, not one a socket
        assert [browser.got for browser in browsers] == [[layer.sent[0]["text"]]] * 3
        assert "handed to every socket" in html_of(layer.sent[0])

    async_to_sync(scenario)()


def test_a_stop_that_a_library_swallowed_still_ends_the_bridges_wait():
    """Python 3.11's wait_for and some libraries eat a CancelledError; the task stays
    `cancelling()`. The bridge's next quiet wait must end at once rather than wait a spell
    (a stopping server, or a test's cleanup, would wait on it)."""

    async def swallowed_then_waits():
        asyncio.current_task().cancel()
        with contextlib.suppress(asyncio.CancelledError):  # the library that ate it
            await asyncio.sleep(0)
        await bridges.notified(object(), 3600)  # never reaches the connection

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(swallowed_then_waits())
