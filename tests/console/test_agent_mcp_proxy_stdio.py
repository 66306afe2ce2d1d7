"""examples/agent_mcp_proxy.py as an agent runtime runs it, a child process on a pipe, in front
of an HTTP endpoint that answers only once the runtime has closed its input: a call in flight
when the input ends is still answered (as `manage.py agent_mcp` answers it), never dropped."""

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


def held_endpoint(input_closed: threading.Event) -> ThreadingHTTPServer:
    """`GET /api/agent/tools` and `POST /api/agent/<verb>`, each answered once the runtime's
    input has ended, so the call is surely in flight at that moment (no sleep, no race)."""

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
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.answer({"ok": True, "verb": self.path.rsplit("/", 1)[-1]})

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Agent)


def answers_after_the_input_ends(requests: list[dict]) -> tuple[dict, str]:
    """Each request written after the handshake, then the proxy's stdin closed: (answers by id,
    stderr)."""
    input_closed = threading.Event()
    endpoint = held_endpoint(input_closed)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    env = {"OPS_AGENT_URL": f"http://127.0.0.1:{endpoint.server_port}", "OPS_AGENT_TOKEN": "x"}
    command = [sys.executable, str(ROOT / "examples/agent_mcp_proxy.py")]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    reader, writer = os.pipe()  # its input, closed by hand (communicate() would close it later)
    try:
        with subprocess.Popen(command, env=env, stdin=reader, **pipes) as proxy:
            os.close(reader)
            os.write(writer, b"".join(json.dumps(m).encode() + b"\n" for m in HELLO + requests))
            os.close(writer)
            input_closed.set()
            stdout, stderr = proxy.communicate(timeout=120)
    finally:
        endpoint.shutdown()
        endpoint.server_close()
    answers = [json.loads(line) for line in stdout.splitlines()]
    return {a.get("id"): a for a in answers}, stderr.decode()


def test_calls_in_flight_when_the_input_ends_are_answered_before_the_proxy_exits():
    call = {"name": "claim-jobs", "arguments": {}}
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call},
    ]

    answers, stderr = answers_after_the_input_ends(requests)

    assert [t["name"] for t in answers[1]["result"]["tools"]] == ["claim-jobs"]
    assert answers[2]["result"]["structuredContent"] == {"ok": True, "verb": "claim-jobs"}
    assert "Traceback" not in stderr
