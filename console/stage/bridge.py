"""The Stage's event bridge: Postgres NOTIFY → each batch of new events read and rendered once
→ one channel-layer group message carrying the finished text, which every socket sends as it
is (no per-viewer read, render, copy or serialisation).

Who reads: with the in-memory layer (one process) each ASGI process's bridge reads for its own
sockets. With a shared layer (REDIS_URL) the processes of one node elect a single reader by a
Postgres advisory lock keyed on the host name; it sends each batch once to the node's group,
which every local process's sockets join. NOTIFY reaches every process on every node, so
without the election each process of a node read, rendered and sent every batch itself.
"""

import asyncio
import hashlib
import json
import logging
import socket
import uuid
from dataclasses import dataclass

import psycopg
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer
from django.db import connection
from django.template.loader import render_to_string

from console.stage.happening import sentence_of
from opscore.db import AdvisoryLock, Channel
from opscore.models import Event

BATCH = 100
QUIET_CHECK_SECONDS = 15
HELD_CHECK_SECONDS = 1  # while committed events wait behind an open transaction
FOLLOW_SECONDS = 5  # how often a process that does not read tries to take the reader's place
BACKOFF_SECONDS = (0.5, 1, 2, 5)
# What the pages act on, by the namespace of Opscore's own events that carry it: the office and
# the conversations list (conversation.*), an open thread page (thread.*). An outside runtime
# may not emit in these, so what its event's payload holds is not sent to every viewer.
MOMENT_KEYS = {
    "conversation.": ("conversation_id", "participants", "interaction", "text"),
    "thread.": ("thread",),
}
log = logging.getLogger(__name__)


@database_sync_to_async
def events_after(last_id: int) -> tuple[str, int, list[dict]]:
    """The next settled events past the cursor (Event.objects.after): one still held back
    by an older open transaction waits, where a read by id passed it for good."""
    events = list(
        Event.objects.after(last_id).select_related("agent", "mission", "step", "proposal")[:BATCH]
    )
    if not events:
        return "", last_id, []
    return rendered(events), events[-1].id, [moment_of(event) for event in events]


@database_sync_to_async
def settled_after(last_id: int, limit: int) -> int:
    """How many settled events a catch-up from the cursor would read, counted up to `limit`."""
    return Event.objects.after(last_id)[:limit].count()


@database_sync_to_async
def held_back() -> bool:
    """Committed events wait behind an older open transaction: its end may come with no
    notification (it wrote no event, or rolled back), so the bridge looks again soon."""
    return Event.objects.held_back().exists()


def rendered(events: list) -> str:
    return render_to_string("stage/_event_rows.html", {"events": list(reversed(events))})


def moment_of(event: Event) -> dict:
    """What the office needs to act an event out: who, what kind, and a conversation's words."""
    keys = next((k for kind, k in MOMENT_KEYS.items() if event.kind.startswith(kind)), ())
    extra = {k: event.payload[k] for k in keys if k in event.payload}
    moment = {"id": event.id, "kind": event.kind, "agent": event.agent_id, **extra}
    moment |= {"proposal": event.proposal_id} if event.proposal_id else {}
    return moment | {"title": sentence_of(event)}


def batch_text(html: str, newest: int, moments: list[dict]) -> str:
    """The websocket message a browser gets, serialised once for all of them."""
    return json.dumps({"html": html, "last_id": newest, "moments": moments})


@database_sync_to_async
def latest_id() -> int:
    """Where a reader that wants only what comes next starts: the newest settled event."""
    return Event.objects.last_position()


@database_sync_to_async
def highest_id() -> int:
    """The largest event id written (committed), for bounding a client's cursor."""
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


@database_sync_to_async
def listener_params() -> dict:
    params = connection.get_connection_params()
    return {k: v for k, v in params.items() if k not in ("cursor_factory", "context")}


@dataclass(frozen=True)
class Route:
    """Where a bridge sends (`group`) and, for a node's shared group, the lock that makes it
    the node's one reader ('' : it reads for its own process's sockets)."""

    group: str
    reader_lock: str = ""


def local_route() -> Route:
    """A group no other process (on any node) uses: its bridge's sockets alone."""
    return Route(f"stage-events.{uuid.uuid4().hex}")


def node_route(host: str) -> Route:
    node = hashlib.sha256(host.encode()).hexdigest()[:16]  # group names allow few characters
    return Route(f"stage-events.node.{node}", f"{AdvisoryLock.STAGE_READER_PREFIX}{node}")


def route_for(layer) -> Route:
    """Per process with the in-memory layer (nothing crosses processes); per node otherwise."""
    if isinstance(layer, InMemoryChannelLayer):
        return local_route()
    return node_route(socket.gethostname())


async def fan_out(layer, group: str, position: int) -> tuple[int, bool]:
    """Read, render and serialise what is new once, and send that to every socket: a
    browser's cost is forwarding one finished string, not a query, a render or a copy.
    Returns the new position, and whether committed events wait behind an open transaction."""
    while True:
        html, newest, moments = await events_after(position)
        if not html:
            return position, await held_back()
        text = batch_text(html, newest, moments)
        await layer.group_send(
            group, {"type": "stage.batch", "after": position, "last_id": newest, "text": text}
        )
        position = newest


async def take_reader_place(db, lock: str, position: int) -> int:
    """Wait until this process holds the node's reader lock (the holder's session ends with
    it, so a dead reader is replaced within FOLLOW_SECONDS). Returns where to start: the
    newest event seen while the last reader was alive, so what it may not have sent is sent
    again; a socket already past that catches up from its own last id."""
    while True:
        held = await db.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [lock])
        if (await held.fetchone())[0]:
            return position
        position = await latest_id()
        await asyncio.sleep(FOLLOW_SECONDS)


def still_wanted() -> None:
    """Raise the cancel a library swallowed: a task asked to stop keeps `cancelling()` set even
    where an await along the way (a channel layer's, asgiref's) ate its CancelledError, and a
    loop that never ends by itself must then end here rather than wait out another spell."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def notified(db, seconds: float) -> None:
    """Until a notification (or anything) arrives on the LISTEN connection, or `seconds` pass;
    what arrived is read and dropped (the events table says what is new). Its own wait on the
    socket, not psycopg's notifies(): a cancel (the process stopping) ends this one at once,
    where one landing in that generator's wait held the task for ten seconds and more. A lost
    connection raises from consume_input."""
    still_wanted()
    loop = asyncio.get_running_loop()
    readable = loop.create_future()
    loop.add_reader(db.pgconn.socket, lambda: readable.done() or readable.set_result(None))
    try:
        async with asyncio.timeout(seconds):  # not wait_for: 3.11's can swallow a cancel
            await readable
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(db.pgconn.socket)
    still_wanted()
    db.pgconn.consume_input()
    while db.pgconn.notifies():
        pass


async def bridge(layer, route: Route, position: int):
    """Postgres NOTIFY → channel-layer group: one LISTEN connection per reader, however many
    browsers watch, and events written by any process (the SQL completion functions too)
    reach every socket. A quiet spell checks anyway, so a missed notification costs seconds.

    It never ends by itself: when Postgres or Redis goes away it backs off and starts again
    from the last event it sent, so what was written during the outage still goes out."""
    params = await listener_params()
    failures = 0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as db:
                if route.reader_lock:
                    position = await take_reader_place(db, route.reader_lock, position)
                await db.execute(f"LISTEN {Channel.EVENTS}")
                position, held = await fan_out(layer, route.group, position)
                failures = 0
                while True:
                    await notified(db, HELD_CHECK_SECONDS if held else QUIET_CHECK_SECONDS)
                    position, held = await fan_out(layer, route.group, position)
        except Exception as error:  # a cancel (the loop closing) is no Exception: it still stops
            failures += 1
            log.warning("the Stage's event bridge lost a connection (%s); retrying", error)
            await asyncio.sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS)) - 1])


REJOIN_SECONDS = 3600  # the relay's group membership is renewed well inside its expiry


async def relay(layer, group: str, sockets: set):
    """One channel of this process in the bridge's group: each batch arrives once per
    process, however many sockets watch, and goes to each of them as the same string — no
    per-socket channel-layer message, copy or task switch. A socket that closed meanwhile
    is dropped; a lost channel layer is waited out like the bridge's."""
    failures = 0
    while True:
        try:
            channel = await layer.new_channel()
            await layer.group_add(group, channel)
            failures = 0
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), REJOIN_SECONDS)
                except TimeoutError:
                    await layer.group_add(group, channel)
                    continue
                await hand_out(message, sockets)
                still_wanted()
        except Exception as error:  # a cancel (the loop closing) is no Exception: it still stops
            failures += 1
            log.warning("the Stage's relay lost the channel layer (%s); retrying", error)
            await asyncio.sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS)) - 1])


_closing: set = set()  # closes under way beside the relay (the loop keeps only weak references)


async def hand_out(message: dict, sockets: set) -> None:
    """A socket that cannot take the batch (the browser went away between the batch and its
    send, its session could not be read again, or its client has not read what it was sent:
    StageConsumer.deliver) is dropped and closed: left open, its browser would wait for ever
    on a feed that ended, instead of reconnecting from its last id. The close waits on the
    same full buffers as the send did, so it runs beside the relay, which goes on."""
    for socket_ in list(sockets):
        try:
            await socket_.deliver(message)
        except Exception:  # a cancel of the relay is no Exception: it still stops
            sockets.discard(socket_)
            closing = asyncio.ensure_future(socket_.give_up())
            _closing.add(closing)
            closing.add_done_callback(_closing.discard)


@dataclass
class Local:
    """What one event loop (an ASGI process) runs for the Stage: its bridge, its relay and
    the sockets the relay hands batches to."""

    route: Route
    sockets: set
    tasks: tuple = ()

    def running(self) -> bool:
        return bool(self.tasks) and not any(task.done() for task in self.tasks)


_locals: dict = {}  # event loop → its Local


async def join(layer, socket_) -> None:
    """Start this loop's bridge (from the newest event now, before the socket catches up, so
    nothing written in between is missed) and relay if they are not running, and add the
    socket to those the relay serves. Restarted tasks keep their route and sockets."""
    loop = asyncio.get_running_loop()
    for other in [old for old in _locals if old.is_closed()]:
        del _locals[other]
    here = _locals.setdefault(loop, Local(route_for(layer), set()))
    if not here.running():
        position = await latest_id()
        if not here.running():  # another socket may have started them meanwhile
            for task in here.tasks:
                task.cancel()
            here.tasks = (
                loop.create_task(bridge(layer, here.route, position)),
                loop.create_task(relay(layer, here.route.group, here.sockets)),
            )
    here.sockets.add(socket_)


def leave(socket_) -> None:
    here = _locals.get(asyncio.get_running_loop())
    if here is not None:
        here.sockets.discard(socket_)
