"""examples/agent_mcp_proxy.py as an agent runtime runs it, a child process on a pipe, in front
of an HTTP endpoint that answers only once the runtime has closed its input: a call in flight
when the input ends is still answered (as `manage.py agent_mcp` answers it), never dropped; and
a line it cannot read is answered, never forwarded as other words than were sent."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.console.test_agent_mcp_stdio import HELLO
from tests.processes import ROOT

pytestmark = pytest.mark.slow

TOOL = {"name": "claim-jobs", "description": "claim", "inputSchema": {"type": "object"}}


def held_endpoint(input_closed: threading.Event, posted: list) -> ThreadingHTTPServer:
    """`GET /api/agent/tools` and `POST /api/agent/<verb>`, each answered once the runtime's
    input has ended, so the call is surely in flight at that moment (no sleep, no race). Each
    POST's path and body are kept in `posted`."""

    class Agent(BaseHTTPRequestHandler):
        def answer(self, body: dict) -> None:
            input_closed.wait(timeout=60)
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.answer({"ok": True, "tools": [TOOL]})

        def do_POST(self):
            posted.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.answer({"ok": True, "verb": self.path.rsplit("/", 1)[-1]})

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Agent)


def answers_after_the_input_ends(requests: list) -> tuple[dict, list, str, list]:
    """Each request (a message, or a line's bytes as sent) written after the handshake, then the
    proxy's stdin closed: (answers by id, answers to no id, stderr, what reached the endpoint)."""
    input_closed, posted = threading.Event(), []
    endpoint = held_endpoint(input_closed, posted)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    env = {"OPS_AGENT_URL": f"http://127.0.0.1:{endpoint.server_port}", "OPS_AGENT_TOKEN": "x"}
    command = [sys.executable, str(ROOT / "examples/agent_mcp_proxy.py")]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    reader, writer = os.pipe()  # its input, closed by hand (communicate() would close it later)
    try:
        with subprocess.Popen(command, env=env, stdin=reader, **pipes) as proxy:
            os.close(reader)
            os.write(writer, b"".join(line(m) + b"\n" for m in HELLO + requests))
            os.close(writer)
            input_closed.set()
            stdout, stderr = proxy.communicate(timeout=120)
    finally:
        endpoint.shutdown()
        endpoint.server_close()
    answers = [json.loads(answer) for answer in stdout.splitlines()]
    by_id = {a["id"]: a for a in answers if a.get("id") is not None}
    return by_id, [a for a in answers if a.get("id") is None], stderr.decode(), posted


def line(message: dict | bytes) -> bytes:
    return message if isinstance(message, bytes) else json.dumps(message).encode()


def test_calls_in_flight_when_the_input_ends_are_answered_before_the_proxy_exits():
    call = {"name": "claim-jobs", "arguments": {}}
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call},
    ]

    answers, _, stderr, _ = answers_after_the_input_ends(requests)

    assert [t["name"] for t in answers[1]["result"]["tools"]] == ["claim-jobs"]
    assert answers[2]["result"]["structuredContent"] == {"ok": True, "verb": "claim-jobs"}
    assert "Traceback" not in stderr


def test_a_line_it_cannot_read_is_answered_and_never_forwarded():
    """The SDK's own reader replaced bytes that are not UTF-8 with U+FFFD and kept the last of a
    key given twice, so the call went on with other words than were sent; a line it could not
    parse, or a request whose id is null, was never answered: the client waited forever."""
    emit = b'{"jsonrpc": "2.0", "id": %d, "method": "tools/call", "params": {"name": "emit-event"'
    requests = [
        emit % 1 + b', "arguments": {"topic": "ops.x", "title": "caf\xe9"}}}',  # Latin-1
        emit % 2 + b', "arguments": {"topic": "ops.x", "title": "a", "title": "b"}}}',
        emit % 3 + b', "arguments": {"topic": "ops.x", "title": NaN}}}',
        emit % 4 + b', "arguments": {"topic": "ops.x"',  # cut short
        b'{"jsonrpc": "2.0", "id": null, "method": "tools/list"}',
        {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "emit-event"}},
    ]

    answers, unaddressed, stderr, posted = answers_after_the_input_ends(requests)

    assert answers[1]["error"] == {"code": -32700, "message": "line: not valid UTF-8 (byte 130)"}
    assert "the key 'title' is given twice" in answers[2]["error"]["message"]
    assert "NaN" in answers[3]["error"]["message"]
    assert [a["error"]["code"] for a in unaddressed] == [-32700, -32600]  # cut short; id null
    assert 4 not in answers
    assert answers[6]["result"]["structuredContent"] == {"ok": True, "verb": "emit-event"}
    assert posted == [("/api/agent/emit-event", b"{}")]
    assert "Traceback" not in stderr


def test_a_tool_name_never_carries_the_token_outside_the_agent_api():
    """The name was joined into the URL as it came: `../../elsewhere` sent the agent's token
    to whatever the server (or another app behind the same host) serves there."""
    call = {"name": "../../elsewhere?x=1#", "arguments": {}}
    requests = [{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}]

    answers, _, stderr, posted = answers_after_the_input_ends(requests)

    assert [path for path, _ in posted] == ["/api/agent/..%2F..%2Felsewhere%3Fx%3D1%23"]
    assert "result" in answers[1] and "Traceback" not in stderr


def test_a_request_id_used_before_in_the_session_is_refused_and_not_forwarded():
    call = {"name": "claim-jobs", "arguments": {}}
    requests = [{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}] * 2

    answers, unaddressed, stderr, posted = answers_after_the_input_ends(requests)

    assert answers[1]["result"]["structuredContent"] == {"ok": True, "verb": "claim-jobs"}
    assert [a["error"]["message"] for a in unaddressed] == ["id: 1 was used before in this session"]
    assert len(posted) == 1 and "Traceback" not in stderr
