"""`manage.py agent_mcp` over its real stdio pipe, fed what a hostile or broken runtime writes:
every request is answered (its id when it can be read), nothing it could not read is acted on,
the session keeps working, and the process never ends in a traceback."""

import json
import select
import subprocess
import sys

import mcp_types as types
import pytest

from console.models import AgentToken
from missions.models import Step
from opscore.models import Event, Runtime
from tests.factories import AgentFactory, make_step
from tests.processes import ROOT, child_environment

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

COMMAND = [sys.executable, "manage.py", "agent_mcp", "--token-env", "OPS_AGENT_TOKEN"]
HELLO = [
    {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": types.DEFAULT_NEGOTIATED_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "hostile", "version": "1"},
        },
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
]


@pytest.fixture
def outside(db):
    return AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, max_concurrent_steps=5)


@pytest.fixture
def secret(outside):
    return AgentToken.issue(outside, "claude-code", actor="test")[1]


def frame(message: dict) -> bytes:
    return json.dumps(message).encode()


def tool_call(request_id, name: str, arguments: dict) -> bytes:
    params = {"name": name, "arguments": arguments}
    return frame({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})


def serve(secret: str, lines: list[bytes], **env) -> tuple[dict, list[dict], str]:
    """The lines after the handshake, then the end of input, as `printf … | agent_mcp` sends
    them: (answers by id, answers to no id, stderr)."""
    sent = b"".join(line + b"\n" for line in [*map(frame, HELLO), *lines])
    env = child_environment(60, OPS_AGENT_TOKEN=secret, **env)
    done = subprocess.run(COMMAND, input=sent, capture_output=True, cwd=ROOT, env=env, timeout=120)
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    by_id = {a["id"]: a for a in answers if a.get("id") is not None}
    return by_id, [a for a in answers if a.get("id") is None], done.stderr.decode()


def test_every_line_is_answered_and_what_could_not_be_read_is_not_acted_on(outside, secret):
    make_step("noop", agent=outside)
    deep = b"[" * 300 + b"]" * 300
    emit = b'{"jsonrpc": "2.0", "id": %d, "method": "tools/call", "params": {"name": "emit-event"'
    lines = [
        emit % 1 + b', "arguments": {"topic": "ops.x", "title": "caf\xe9"}}}',  # Latin-1, not UTF-8
        emit % 2 + b', "arguments": {"topic": "ops.x", "title": "a", "title": "b"}}}',
        emit % 3 + b', "arguments": {"topic": "ops.x", "title": "t", "payload": ' + deep + b"}}}",
        b'[{"jsonrpc": "2.0", "id": 4, "method": "ping"}]',
        b'{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "'
        + secret.encode(),
        b'{"jsonrpc": "2.0", "id": null, "method": "tools/list"}',
        tool_call(7, "claim-jobs", {}),
    ]

    answers, unaddressed, stderr = serve(secret, lines)

    assert sorted(answers) == [0, 1, 2, 3, 7]
    assert answers[1]["error"]["message"].startswith("line: not valid UTF-8 (byte ")
    assert "the key 'title' is given twice" in answers[2]["error"]["message"]
    assert answers[3]["error"]["message"] == "line: nested deeper than 35 levels"
    assert [a["error"]["code"] for a in unaddressed] == [
        types.INVALID_REQUEST,
        types.PARSE_ERROR,
        types.INVALID_REQUEST,
    ]
    assert not Event.objects.filter(kind="ops.x").exists()
    claimed = answers[7]["result"]["structuredContent"]
    assert claimed["jobs"][0]["lease_token"] == str(Step.objects.get().lease_token)
    assert "Traceback" not in stderr and secret not in stderr + json.dumps([answers, unaddressed])


def test_calls_running_when_the_input_ends_are_answered_with_what_they_did(outside, secret):
    job = make_step("noop", agent=outside)
    calls = [tool_call(1, "claim-jobs", {}), tool_call(2, "emit-event", {"topic": "ops.y"})]

    answers = serve(secret, calls)[0]

    claimed = answers[1]["result"]["structuredContent"]
    assert claimed["jobs"][0]["lease_token"] == str(Step.objects.get(pk=job.pk).lease_token)
    assert answers[2]["result"]["structuredContent"]["event"]["kind"] == "ops.y"


def test_a_line_too_long_for_any_call_is_refused_unread_and_the_session_goes_on(outside, secret):
    huge = tool_call(1, "emit-event", {"topic": "ops.huge", "title": "x" * 2_000_000})
    lines = [huge, tool_call(2, "emit-event", {"topic": "ops.after"})]

    by_id, unnamed, stderr = serve(secret, lines, OPS_MAX_INPUT_BYTES=1024)

    assert [a["error"]["message"] for a in unnamed] == ["line: longer than 10240 bytes"]
    assert 1 not in by_id and not Event.objects.filter(kind="ops.huge").exists()
    assert by_id[2]["result"]["structuredContent"]["event"]["kind"] == "ops.after"
    assert "Traceback" not in stderr


def test_a_client_that_stops_reading_ends_the_server_with_one_line(secret):
    env = child_environment(60, OPS_AGENT_TOKEN=secret)
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with subprocess.Popen(COMMAND, cwd=ROOT, env=env, **pipes) as process:
        process.stdin.write(frame(HELLO[0]) + b"\n")
        process.stdin.flush()
        if select.select([process.stdout], [], [], 120)[0]:  # its answer to initialize
            process.stdout.readline()
        process.stdout.close()  # the runtime reads no further answer
        calls = [frame(HELLO[1]), tool_call(1, "claim-jobs", {})]
        stderr = process.communicate(b"".join(line + b"\n" for line in calls), timeout=120)[1]

    assert "Traceback" not in stderr.decode()
    last = stderr.decode().splitlines()[-1]
    assert last == "opscore agent_mcp: the client stopped reading its answers"
    assert process.returncode == 141


def test_a_request_id_used_before_in_the_session_is_refused_and_not_acted_on(outside, secret):
    """MCP forbids a requestor to use an id twice in a session. Both calls ran, both answered
    with the same id (the client could not tell which answer was whose), and the first answer
    ended the wait for the second: at the end of input its answer, a claimed job's lease
    token, could be dropped."""
    make_step("noop", agent=outside)
    make_step("noop", agent=outside)
    lines = [tool_call(1, "claim-jobs", {}), tool_call(1, "claim-jobs", {})]

    answers, unaddressed, stderr = serve(secret, lines)

    claimed = answers[1]["result"]["structuredContent"]["jobs"]
    assert [a["error"] for a in unaddressed] == [
        {"code": types.INVALID_REQUEST, "message": "id: 1 was used before in this session"}
    ]
    assert Step.objects.filter(status="running").count() == len(claimed) == 1
    assert "Traceback" not in stderr
