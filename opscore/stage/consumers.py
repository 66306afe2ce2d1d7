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

from opscore.models import Event

BATCH = 100


@database_sync_to_async
def events_after(last_id: int) -> tuple[str, int]:
    events = list(
        Event.objects.select_related("agent").filter(id__gt=last_id).order_by("id")[:BATCH]
    )
    if not events:
        return "", last_id
    html = render_to_string("stage/_event_rows.html", {"events": list(reversed(events))})
    return html, events[-1].id


@database_sync_to_async
def latest_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


@database_sync_to_async
def listener_params() -> dict:
    params = connection.get_connection_params()
    return {k: v for k, v in params.items() if k not in ("cursor_factory", "context")}


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
        self.pump = asyncio.create_task(self.forward_events())

    async def disconnect(self, code):
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
                    await db.execute("LISTEN opscore_events")
                    await self.send_new()
                    async for _ in db.notifies(timeout=15):
                        await self.send_new()
                    await self.send_new()  # a quiet spell: check anyway, then listen again
            except psycopg.OperationalError:
                await asyncio.sleep(1)  # the database is restarting: catch up when it is back

    async def send_new(self):
        while True:
            html, newest = await events_after(self.last_id)
            if not html:
                return
            self.last_id = newest
            await self.send(text_data=json.dumps({"html": html, "last_id": newest}))
