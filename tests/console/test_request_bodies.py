"""A request's body, read by the ASGI app as uvicorn hands it over: one larger than any endpoint
takes, or one that never finishes arriving, is refused with one line before Django reads it all
(into a temporary file, on disk past 2.5 MB) — no token needed to send one, so nobody may fill
the disk or hold a connection with it."""

import asyncio
import json

import pytest

from console.asgi import application
from console.models import AgentToken
from missions.models import Step
from opscore.models import Runtime
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db(transaction=True)
CHUNK = 64 * 1024


def scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


def post(path: str, chunks, headers=()) -> tuple[int, bytes, int]:
    """(status, body, how many chunks the app read) for a body sent in `chunks` (bytes each;
    None: the client sends nothing more and never ends the body)."""
    read, sent = [0], []

    async def receive():
        if read[0] < len(chunks) and chunks[read[0]] is not None:
            read[0] += 1
            return {
                "type": "http.request",
                "body": chunks[read[0] - 1],
                "more_body": read[0] < len(chunks),
            }
        await asyncio.Event().wait()  # a client gone quiet: nothing more, ever

    async def send(message):
        sent.append(message)

    async def scenario():
        await application(scope(path, list(headers)), receive, send)

    asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, read[0]


def test_a_body_larger_than_any_endpoint_takes_is_refused_unread(settings):
    endless = [b"x" * CHUNK] * 200  # 12.5 MB, sent chunked (no Content-Length)

    status, body, read = post("/api/agent/claim-jobs", endless)

    assert (status, json.loads(body)["error"]) == (400, "body too large")
    assert read <= settings.OPS_MAX_INPUT_BYTES // CHUNK + 1


def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read(settings):
    headers = [(b"content-length", b"10000000000")]

    status, body, read = post("/stage/", [b"x"], headers)

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert (status, body, read) == (413, f"body too large: at most {limit} bytes\n".encode(), 0)


def test_a_body_that_never_ends_is_refused_when_its_time_is_up(settings):
    settings.OPS_REQUEST_BODY_SECONDS = 1

    status, body, _ = post("/api/agent/claim-jobs", [b'{"limit":', None])

    assert status == 408
    assert json.loads(body)["error"] == "the body did not arrive within 1 s"


def test_a_body_within_the_limit_reaches_the_endpoint():
    outside = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL)
    secret = AgentToken.issue(outside, "vps", actor="test")[1]
    headers = [(b"authorization", f"Bearer {secret}".encode())]
    body = json.dumps({"target_agent": "openclaw-ops", "subject": "s", "kind": "noop"}).encode()

    status, answer, _ = post("/api/agent/enqueue-job", [body[:10], body[10:]], headers)

    assert status == 200 and json.loads(answer)["ok"] and Step.objects.count() == 1
