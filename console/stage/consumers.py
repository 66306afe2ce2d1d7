"""Live events over a websocket. Any process may write an event; Postgres NOTIFY wakes the
bridge (console/stage/bridge.py), which reads what is new once and sends every socket the same
finished text; a socket that connects or falls behind reads from its own last id (`?after=ID`),
so a reconnecting browser catches up and nothing is missed."""

from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from console.stage.bridge import batch_text, ensure_bridge, events_after, latest_id


class StageConsumer(AsyncWebsocketConsumer):
    group = ""  # this process's (or node's) bridge's group, once the socket is accepted

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
        """The shared batch, forwarded as it is, when it follows on from what this browser
        has; otherwise (it connected mid-batch, or fell behind) its own catch-up."""
        if message["after"] == self.last_id:
            self.last_id = message["last_id"]
            await self.send(text_data=message["text"])
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
            await self.send(text_data=batch_text(html, newest, moments))
