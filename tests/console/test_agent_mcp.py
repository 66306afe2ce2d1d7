"""The agent bus as MCP tools: a client holding only an agent's token claims, renews and
completes that agent's job, and is confined exactly as over HTTP."""

import os
import sys

import pytest
from asgiref.sync import async_to_sync
from mcp import Client

from console.agent_mcp import build_server
from console.models import AgentToken
from missions.models import Step
from opscore.models import Event, Runtime
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def outside(db):
    return AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, max_concurrent_steps=5)


def session(secret: str, calls: list[tuple[str, dict]]) -> tuple[list[str], list[dict]]:
    """Run tool calls in order over an in-process MCP session; each may use the last answer."""

    async def run():
        answers = []
        async with Client(build_server(secret)) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            for name, arguments in calls:
                if callable(arguments):
                    arguments = arguments(answers[-1])
                result = await client.call_tool(name, arguments)
                answers.append(result.structured_content | {"is_error": result.is_error})
        return names, answers

    return async_to_sync(run)()


def lease(answer: dict) -> dict:
    job = answer["jobs"][0]
    return {"job_id": job["id"], "lease_token": job["lease_token"]}


def test_an_mcp_client_claims_renews_and_completes_its_agents_job(outside):
    secret = AgentToken.issue(outside, "claude-code", actor="test")[1]
    make_step("noop", agent=outside)
    calls = [
        ("claim-jobs", {}),
        ("renew-job-lease", lambda claimed: lease(claimed) | {"lease_seconds": 120}),
    ]

    names, (claimed, renewed) = session(secret, calls)
    done = session(secret, [("complete-job", lease(claimed) | {"result": {"checked": 3}})])[1][0]

    assert {"claim-jobs", "complete-job", "create-opportunity"} <= set(names)
    assert "requeue-expired" not in names
    assert not renewed["is_error"] and done["job"]["status"] == "succeeded"
    assert Step.objects.get().result == {"checked": 3}


def test_an_mcp_client_cannot_finish_another_agents_job_or_use_a_revoked_token(outside):
    token, secret = AgentToken.issue(outside, "claude-code", actor="test")
    theirs = make_step("noop", agent=AgentFactory(slug="growth", runtime=Runtime.EXTERNAL))
    zero = "00000000-0000-0000-0000-000000000000"

    (refused,) = session(secret, [("complete-job", {"job_id": theirs.id, "lease_token": zero})])[1]
    token.revoke(actor="test")
    (locked_out,) = session(secret, [("claim-jobs", {})])[1]

    assert refused["is_error"] and refused["error"] == f"no job {theirs.id}"
    assert locked_out["is_error"] and "revoked" in locked_out["error"]


def test_a_second_complete_job_is_an_error_saying_the_job_already_succeeded(outside):
    secret = AgentToken.issue(outside, "claude-code", actor="test")[1]
    job = make_step("noop", agent=outside)
    done = ("complete-job", lease(session(secret, [("claim-jobs", {})])[1][0]))

    first, again = session(secret, [done, done])[1]

    assert not first["is_error"] and again["is_error"]
    assert again["error"] == f"S{job.id} already succeeded: a second completion was refused"
    assert again["error"] == Event.objects.get(kind="step.late_write_refused").title


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_manage_py_agent_mcp_serves_the_tools_over_stdio(outside):
    """What an MCP client config runs: the token travels in the environment only."""
    from mcp import StdioServerParameters

    from tests.processes import ROOT, child_environment

    secret = AgentToken.issue(outside, "claude-code", actor="test")[1]
    make_step("noop", agent=outside)
    server = StdioServerParameters(
        command=sys.executable,
        args=["manage.py", "agent_mcp", "--token-env", "OPS_AGENT_TOKEN"],
        env=child_environment(60, OPS_AGENT_TOKEN=secret),
        cwd=str(ROOT),
    )

    async def run():
        async with Client(server) as client:
            return (await client.call_tool("claim-jobs", {})).structured_content

    claimed = async_to_sync(run)()

    assert claimed["ok"] and claimed["jobs"][0]["agent"] == "openclaw-ops"


@pytest.mark.django_db(transaction=True)
def test_a_remote_mcp_proxy_works_with_nothing_but_the_token(outside):
    """examples/agent_mcp_proxy.py against the real Django stack (WSGI, in-process)."""
    import importlib.util

    import httpx
    from django.core.wsgi import get_wsgi_application

    from tests.processes import ROOT

    spec = importlib.util.spec_from_file_location("proxy", ROOT / "examples/agent_mcp_proxy.py")
    proxy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(proxy)
    secret = AgentToken.issue(outside, "laptop", actor="test")[1]
    job = make_step("noop", agent=outside)
    http = httpx.Client(
        transport=httpx.WSGITransport(app=get_wsgi_application()),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {secret}"},
    )

    async def run():
        async with Client(proxy.build_proxy(http)) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            claimed = (await client.call_tool("claim-jobs", {})).structured_content
            lease = {
                "job_id": claimed["jobs"][0]["id"],
                "lease_token": claimed["jobs"][0]["lease_token"],
            }
            done = (await client.call_tool("complete-job", lease)).structured_content
            return names, done

    names, done = async_to_sync(run)()

    assert "complete-job" in names and done["job"]["status"] == "succeeded"
    assert Step.objects.get(pk=job.id).status == "succeeded"


@pytest.mark.parametrize(
    ("title", "problem"),
    [
        ("a\u0000b", "contains a NUL character (\\u0000)"),
        ("a\ud800b", "contains a lone surrogate (\\ud800-\\udfff), not text"),
    ],
)
def test_a_tool_call_is_held_to_the_http_apis_input_limits(outside, title, problem):
    secret = AgentToken.issue(outside, "claude-code", actor="test")[1]

    (refused,) = session(secret, [("emit-event", {"topic": "ops.x", "title": title})])[1]

    assert refused["is_error"] and refused["errors"] == {"title": [problem]}
    assert not Event.objects.filter(kind="ops.x").exists()


def test_a_tool_call_larger_than_an_api_body_is_refused(outside, settings):
    settings.OPS_MAX_INPUT_BYTES = 1000
    secret = AgentToken.issue(outside, "claude-code", actor="test")[1]

    (refused,) = session(secret, [("emit-event", {"topic": "ops.x", "title": "t" * 2000})])[1]

    assert refused["is_error"] and refused["errors"] == {"arguments": ["at most 1000 bytes"]}


def test_a_tool_named_with_a_secret_is_refused_without_echoing_it(outside):
    secret = AgentToken.issue(outside, "claude-code", actor="test")[1]

    (refused,) = session(secret, [(secret, {})])[1]

    assert refused["is_error"] and refused["error"].startswith("no agent-bus verb 'opsa_")
    assert secret not in str(refused)


def test_a_fault_inside_a_tool_is_answered_in_one_line_not_in_its_own_words(outside, monkeypatch):
    """A bug's message is the server's (a row's contents, a path): over stdio the SDK sent it
    as the error; the tool answers as the HTTP API's 500 does, and the session goes on."""
    secret = AgentToken.issue(outside, "claude-code", actor="test")[1]

    def broken(agent, verb, data):
        raise RuntimeError("row 7 of /srv/opscore/private.db")

    monkeypatch.setattr("console.agent_mcp.serve", broken)
    faulted, again = session(secret, [("claim-jobs", {}), ("claim-jobs", {})])[1]

    assert faulted["is_error"] and faulted["error"] == "internal server error"
    assert "private.db" not in str(faulted) and again["is_error"]


def test_an_unset_token_variable_is_named_as_unset_not_as_a_wrong_token(db, monkeypatch):
    """`agent_mcp --token-env OPS_AGENT_TOKEN`, pasted before exporting the token, said
    "$OPS_AGENT_TOKEN holds no active agent token", as if a wrong token had been given."""
    from django.core.management import CommandError, call_command

    monkeypatch.delenv("OPS_AGENT_TOKEN", raising=False)
    with pytest.raises(CommandError) as unset:
        call_command("agent_mcp", "--token-env", "OPS_AGENT_TOKEN")
    monkeypatch.setenv("OPS_AGENT_TOKEN", "opsa_not-a-token")
    with pytest.raises(CommandError) as wrong:
        call_command("agent_mcp", "--token-env", "OPS_AGENT_TOKEN")

    assert str(unset.value).startswith("$OPS_AGENT_TOKEN is not set")
    assert "agent_token issue" in str(unset.value)
    assert str(wrong.value) == "$OPS_AGENT_TOKEN holds no active agent token"


def test_a_token_variable_holding_bytes_that_are_not_utf8_is_a_wrong_token(db, monkeypatch):
    """A token pasted with a stray byte (a Latin-1 terminal) ended the command in a
    UnicodeEncodeError's traceback."""
    from django.core.management import CommandError, call_command

    monkeypatch.setenv("OPS_AGENT_TOKEN", os.fsdecode(b"opsa_caf\xe9"))
    with pytest.raises(CommandError) as wrong:
        call_command("agent_mcp", "--token-env", "OPS_AGENT_TOKEN")

    assert str(wrong.value) == "$OPS_AGENT_TOKEN holds no active agent token"
