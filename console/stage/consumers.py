"""Live events over a websocket. Any process may write an event; Postgres NOTIFY wakes this
consumer, which reads what is new after the browser's last id — so a reconnecting browser
(`?after=ID`) catches up and nothing is missed."""

import asyncio
import contextlib
import json
from urllib.parse import parse_qs

import psycopg
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import connection
from django.template.loader import render_to_string

from opscore.db import Channel
from opscore.models import Event

BATCH = 100


@database_sync_to_async
def events_after(last_id: int) -> tuple[str, int, list[dict]]:
    events = list(
        Event.objects.select_related("agent").filter(id__gt=last_id).order_by("id")[:BATCH]
    )
    if not events:
        return "", last_id, []
    html = render_to_string("stage/_event_rows.html", {"events": list(reversed(events))})
    return html, events[-1].id, [moment_of(event) for event in events]


MOMENT_KEYS = ("conversation_id", "participants", "interaction", "text")


def moment_of(event: Event) -> dict:
    """What the office needs to act an event out: who, what kind, and a conversation's words."""
    extra = {k: event.payload[k] for k in MOMENT_KEYS if k in event.payload}
    return {"id": event.id, "kind": event.kind, "agent": event.agent_id, **extra}


@database_sync_to_async
def latest_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


@database_sync_to_async
def listener_params() -> dict:
    params = connection.get_connection_params()
    return {k: v for k, v in params.items() if k not in ("cursor_factory", "context")}


GROUP = "stage-events"
_bridge: asyncio.Task | None = None


def uses_shared_layer() -> bool:
    """With REDIS_URL set, browsers hang off the Redis channel layer: one LISTEN per ASGI
    process (the bridge) fans out to every socket, instead of one database connection each."""
    return "redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"].lower()


async def bridge(layer):
    """Postgres NOTIFY → channel-layer group: events written by any process, including the SQL
    completion functions, reach every socket of every ASGI process."""
    params = await listener_params()
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as db:
                await db.execute(f"LISTEN {Channel.EVENTS}")
                async for _ in db.notifies():
                    await layer.group_send(GROUP, {"type": "stage.event"})
        except psycopg.OperationalError:
            await asyncio.sleep(1)


def ensure_bridge(layer) -> None:
    global _bridge
    if _bridge is None or _bridge.done():
        _bridge = asyncio.get_running_loop().create_task(bridge(layer))


class StageConsumer(AsyncWebsocketConsumer):
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
        if uses_shared_layer():
            ensure_bridge(self.channel_layer)
            await self.channel_layer.group_add(GROUP, self.channel_name)
            await self.send_new()
        else:
            self.pump = asyncio.create_task(self.forward_events())

    async def stage_event(self, message):
        await self.send_new()

    async def disconnect(self, code):
        if uses_shared_layer():
            await self.channel_layer.group_discard(GROUP, self.channel_name)
        pump = getattr(self, "pump", None)
        if pump:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def forward_events(self):
        params = await listener_params()
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as db:
                    await db.execute(f"LISTEN {Channel.EVENTS}")
                    await self.send_new()
                    async for _ in db.notifies(timeout=15):
                        await self.send_new()
                    await self.send_new()  # a quiet spell: check anyway, then listen again
            except psycopg.OperationalError:
                await asyncio.sleep(1)  # the database is restarting: catch up when it is back

    async def send_new(self):
        while True:
            html, newest, moments = await events_after(self.last_id)
            if not html:
                return
            self.last_id = newest
            message = {"html": html, "last_id": newest, "moments": moments}
            await self.send(text_data=json.dumps(message))
