"""Live events over a websocket. Any process may write an event; Postgres NOTIFY wakes this
consumer, which reads what is new after the browser's last id — so a reconnecting browser
(`?after=ID`) catches up and nothing is missed."""

import asyncio
import json
import logging
import uuid
from urllib.parse import parse_qs

import psycopg
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import connection
from django.template.loader import render_to_string

from console.stage.happening import sentence_of
from opscore.db import Channel
from opscore.models import Event

BATCH = 100


@database_sync_to_async
def events_after(last_id: int) -> tuple[str, int, list[dict]]:
    events = list(
        Event.objects.select_related("agent", "mission", "step", "proposal")
        .filter(id__gt=last_id)
        .order_by("id")[:BATCH]
    )
    if not events:
        return "", last_id, []
    html = render_to_string("stage/_event_rows.html", {"events": list(reversed(events))})
    return html, events[-1].id, [moment_of(event) for event in events]


MOMENT_KEYS = ("conversation_id", "participants", "interaction", "text", "thread")


def moment_of(event: Event) -> dict:
    """What the office needs to act an event out: who, what kind, and a conversation's words."""
    extra = {k: event.payload[k] for k in MOMENT_KEYS if k in event.payload}
    moment = {"id": event.id, "kind": event.kind, "agent": event.agent_id, **extra}
    moment |= {"proposal": event.proposal_id} if event.proposal_id else {}
    return moment | {"title": sentence_of(event)}


@database_sync_to_async
def latest_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


@database_sync_to_async
def listener_params() -> dict:
    params = connection.get_connection_params()
    return {k: v for k, v in params.items() if k not in ("cursor_factory", "context")}


_bridges: dict = {}  # event loop → (its bridge task, its group); an ASGI process runs one loop
QUIET_CHECK_SECONDS = 15
BACKOFF_SECONDS = (0.5, 1, 2, 5)
log = logging.getLogger(__name__)


def local_group() -> str:
    """A group name no other process (on any node) uses: its bridge's sockets alone."""
    return f"stage-events.{uuid.uuid4().hex}"


async def fan_out(layer, group: str, position: int) -> int:
    """Read and render what is new once, and send that to every socket: a browser's cost is
    one message, not one query and one render each."""
    while True:
        html, newest, moments = await events_after(position)
        if not html:
            return position
        batch = {"after": position, "last_id": newest, "html": html, "moments": moments}
        await layer.group_send(group, {"type": "stage.batch", **batch})
        position = newest


async def bridge(layer, group: str, position: int):
    """Postgres NOTIFY → channel-layer group: one LISTEN connection per ASGI process, however
    many browsers watch, and events written by any process (the SQL completion functions too)
    reach every socket. NOTIFY already reaches every process on every node, so the group holds
    this process's sockets alone: with REDIS_URL a shared group had each process send every
    batch to every viewer (N processes, N copies each). A quiet spell checks anyway, so a
    missed notification costs seconds.

    It never ends by itself: when Postgres or Redis goes away it backs off and starts again
    from the last event it sent, so what was written during the outage still goes out (before
    this, a Redis outage killed it until some new browser connected)."""
    params = await listener_params()
    failures = 0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as db:
                await db.execute(f"LISTEN {Channel.EVENTS}")
                position = await fan_out(layer, group, position)
                failures = 0
                async for _ in db.notifies(timeout=QUIET_CHECK_SECONDS):
                    position = await fan_out(layer, group, position)
                position = await fan_out(layer, group, position)
        except Exception as error:  # a cancel (the loop closing) is no Exception: it still stops
            failures += 1
            log.warning("the Stage's event bridge lost a connection (%s); retrying", error)
            await asyncio.sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS)) - 1])


def _running(loop) -> bool:
    return loop in _bridges and not _bridges[loop][0].done()


async def ensure_bridge(layer) -> str:
    """Start this loop's bridge from the newest event now, before the socket catches up, so
    nothing written in between is missed (a socket ahead of a batch catches up itself).
    Returns the group the socket joins; a restarted bridge keeps its group and its sockets."""
    loop = asyncio.get_running_loop()
    for other in [old for old in _bridges if old.is_closed()]:
        del _bridges[other]
    if not _running(loop):
        position = await latest_id()
        if not _running(loop):  # another socket may have started it meanwhile
            group = _bridges[loop][1] if loop in _bridges else local_group()
            _bridges[loop] = (loop.create_task(bridge(layer, group, position)), group)
    return _bridges[loop][1]


class StageConsumer(AsyncWebsocketConsumer):
    group = ""  # this process's bridge's group, once the socket is accepted

    async def connect(self):
        user = self.scope.get("user")
        if not settings.STAGE_PUBLIC and not (user and user.is_authenticated):
            await self.close(code=4403)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.last_id = int(query.get("after", [""])[0])
        except ValueError:
            self.last_id = await latest_id()
        await self.accept()
        self.group = await ensure_bridge(self.channel_layer)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_new()

    async def stage_batch(self, message):
        """The shared batch when it follows on from what this browser has; otherwise (it
        connected mid-batch, or fell behind) its own catch-up from its last id."""
        if message["after"] == self.last_id:
            self.last_id = message["last_id"]
            batch = {k: message[k] for k in ("html", "last_id", "moments")}
            await self.send(text_data=json.dumps(batch))
        elif message["last_id"] > self.last_id:
            await self.send_new()

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def send_new(self):
        while True:
            html, newest, moments = await events_after(self.last_id)
            if not html:
                return
            self.last_id = newest
            message = {"html": html, "last_id": newest, "moments": moments}
            await self.send(text_data=json.dumps(message))
