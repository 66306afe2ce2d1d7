"""Live events over a websocket. Any process may write an event; Postgres NOTIFY wakes the
bridge (console/stage/bridge.py), which reads what is new once; this process's relay hands
every socket the same finished text. A socket that connects or falls behind reads from its own
last id (`?after=ID`), so a reconnecting browser catches up and nothing is missed.

What a client may not do: send anything up (the socket only pushes; a frame closes it, 1003),
or ask for the feed from before what a catch-up covers or from past its newest event (4409:
the page reloads, and older rows load by cursor as on any page)."""

import asyncio
import contextlib
from urllib.parse import parse_qs

from channels.auth import get_user
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from console.stage.bridge import (
    batch_text,
    events_after,
    highest_id,
    join,
    latest_id,
    leave,
    settled_after,
)

CATCH_UP_EVENTS = 1000  # events a catch-up reads: a page further behind reloads instead
RELOAD = 4409  # the page's cursor is not one a catch-up serves: it reloads
UNSUPPORTED = 1003  # the client sent a frame up a socket that only pushes
# The server's send waits while a client's buffers are full: a viewer that read nothing (or
# slowly) held every other viewer of the process to its pace, the relay sending to each in
# turn. Past this, the send fails and the relay closes that socket (it reconnects, catches up).
SEND_SECONDS = 2


class StageConsumer(AsyncWebsocketConsumer):
    joined = False
    catching_up = False  # its own read is under way: a batch meanwhile is read by it
    missed = False

    async def connect(self):
        user = self.scope.get("user")
        if not settings.STAGE_PUBLIC and not (user and user.is_authenticated):
            await self.close(code=4403)
            return
        # raw bytes from the client: Latin-1 reads any of them (a cursor is ASCII digits)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        newest = await highest_id()
        try:
            self.last_id = int(query.get("after", [""])[0])
        except ValueError:
            self.last_id = await latest_id()
        self.session_read_at = asyncio.get_running_loop().time()
        await self.accept()
        if not await self.cursor_served(newest):
            await self.close(code=RELOAD)  # accepted first: a refused handshake has no code
            return
        await join(self.channel_layer, self)
        self.joined = True
        await self.send_new()

    async def cursor_served(self, newest: int) -> bool:
        """Whether a catch-up serves this cursor: not past the newest event written, and at most
        CATCH_UP_EVENTS settled events behind. Counted in the log a catch-up reads, not by ids:
        events committed behind a transaction still open are not the page's to have yet, and
        counting them sent a page drawn meanwhile round a reload that drew the same cursor."""
        if self.last_id > newest:
            return False
        return await settled_after(self.last_id, CATCH_UP_EVENTS + 1) <= CATCH_UP_EVENTS

    async def deliver(self, message: dict) -> None:
        """From the relay: the shared batch, forwarded as it is (within SEND_SECONDS), when it
        follows on from what this browser has; otherwise (it connected mid-batch, or fell
        behind) its own catch-up, started beside the relay so other sockets do not wait for
        it. A cursor is an event id in log order (Event.objects.after), which the ids' numbers
        do not follow: a socket already past the batch finds nothing new."""
        if not await self.may_still_watch():
            await self.shut(4403)
        elif self.catching_up:
            self.missed = True
        elif message["after"] == self.last_id:
            self.last_id = message["last_id"]
            async with asyncio.timeout(SEND_SECONDS):  # a timer, no task per socket and batch
                await self.send(text_data=message["text"])
        else:  # behind it, or past it by its own read: positions are not ordered by number
            self.catching_up = True
            self.catch_up = asyncio.ensure_future(self.send_new())

    async def may_still_watch(self) -> bool:
        """A private Stage's feed is a signed-in person's for as long as they are signed in:
        the session is read again as the database has it now (the user the socket connected
        with was read once), so signing out, or an account switched off or its password
        changed, ends the feed at its first batch after OPS_STAGE_SESSION_RECHECK_SECONDS since it
        was last read (a private Stage with many viewers does not read every session for every
        batch)."""
        if settings.STAGE_PUBLIC:
            return True
        now = asyncio.get_running_loop().time()
        if now - self.session_read_at < settings.OPS_STAGE_SESSION_RECHECK_SECONDS:
            return True  # read lately: a batch per viewer is no database read per viewer
        self.session_read_at = now
        session = self.scope.get("session")
        if session is None or not session.session_key:
            return False
        user = await get_user({"session": session.__class__(session.session_key)})
        return user.is_authenticated and user.pk == self.scope["user"].pk

    async def receive(self, text_data=None, bytes_data=None):
        """Nothing sent up is read: ignored, a client could keep a socket and the server busy
        with frames for as long as it liked. The first one ends the socket instead."""
        await self.shut(UNSUPPORTED)

    async def shut(self, code: int) -> None:
        """Out of the relay's hands before the close, so no batch follows it."""
        if self.joined:
            leave(self)
            self.joined = False
        await self.close(code=code)

    async def give_up(self) -> None:
        """Close as a server that failed (1011): the page reconnects and catches up."""
        self.joined = False
        with contextlib.suppress(Exception):  # already gone: nothing to tell
            await self.close(code=1011)

    async def disconnect(self, code):
        if self.joined:
            leave(self)

    async def send_new(self):
        """Read from this browser's last id until nothing is new — and once more if a batch
        came while it read, so nothing between its reads and the relay is lost."""
        self.catching_up = True
        try:
            while True:
                self.missed = False
                html, newest, moments = await events_after(self.last_id)
                if html:
                    self.last_id = newest
                    await self.send(text_data=batch_text(html, newest, moments))
                elif not self.missed:
                    return
        finally:
            self.catching_up = False
