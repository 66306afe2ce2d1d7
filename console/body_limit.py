"""ASGI middleware: a request's body is read within a size and a time limit before Django sees
it. Django's ASGI handler reads the whole body into a temporary file (on disk past 2.5 MB)
before any middleware or view runs, so anyone, with no token, could fill the disk with one
endless chunked POST (the API's own size check came after), or hold a connection open for ever
by trickling one. Under /api/ every endpoint takes a JSON body within OPS_MAX_INPUT_BYTES and
is refused as the API refuses one (400, `body too large`); elsewhere a form is held to Django's
DATA_UPLOAD_MAX_MEMORY_SIZE (413)."""

import asyncio
import json
import math

from django.conf import settings

from console.api_errors import API_PREFIX


class BodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        api = scope["path"].startswith(API_PREFIX)
        limit = settings.OPS_MAX_INPUT_BYTES if api else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        limit = math.inf if limit is None else limit  # None: Django's "no limit"; time still is
        if declared_length(scope) > limit:
            return await refuse(send, api, too_large(api, limit))
        seconds = settings.OPS_REQUEST_BODY_SECONDS
        try:
            async with asyncio.timeout(seconds):
                whole = await read_body(receive, limit)
        except TimeoutError:
            return await refuse(send, api, (408, f"the body did not arrive within {seconds} s"))
        if whole is None:
            return await refuse(send, api, too_large(api, limit))
        await self.app(scope, replay(whole, receive), send)


def declared_length(scope) -> int:
    """The Content-Length sent, 0 when none (or one uvicorn would not have let through)."""
    value = dict(scope["headers"]).get(b"content-length", b"0")
    return int(value) if value.isdigit() else 0


async def read_body(receive, limit: int) -> dict | None:
    """The body as one message, or None once it runs past `limit` (the rest is never read)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message  # the client left: Django reads that as it would have
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return None
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


def replay(first: dict, receive):
    """`receive` with the body read already handed over first."""
    pending = [first]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed


def too_large(api: bool, limit: int) -> tuple[int, str]:
    return (400, "body too large") if api else (413, f"body too large: at most {limit} bytes")


async def refuse(send, api: bool, answer: tuple[int, str]) -> None:
    """One line: the API's error shape under /api/, plain text elsewhere. The connection is
    closed after it, so what the client still sends of the body is never read."""
    status, message = answer
    if api:
        errors = {
            "body": [f"at most {settings.OPS_MAX_INPUT_BYTES} bytes" if status == 400 else message]
        }
        body = json.dumps({"ok": False, "error": message, "errors": errors}).encode()
        kind = b"application/json"
    else:
        body, kind = f"{message}\n".encode(), b"text/plain; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
