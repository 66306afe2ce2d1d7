"""A valid token refused for its agent's sake is told why (the agent is disabled, or is run by
Opscore's own workers), over HTTP and MCP alike; a token nobody holds, or a revoked one, still
learns nothing but the generic refusal."""

import pytest

from console.agent_mcp import call as mcp_call
from console.models import AgentToken
from opscore.models import Agent, Runtime
from tests.console.test_agent_api import call
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
GENERIC = "missing, unknown or revoked agent token"


@pytest.fixture
def outside(db):
    return AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL)


@pytest.fixture
def secret(outside):
    return AgentToken.issue(outside, "vps", actor="test")[1]


def refusals(client, secret) -> tuple[str, str]:
    """What the HTTP API (401) and an MCP tool call each answer the token."""
    over_http = call(client, secret, "claim-jobs", status=401)
    over_mcp = mcp_call(secret, "claim-jobs", {})
    assert over_http["ok"] is False and over_mcp["ok"] is False
    return over_http["error"], over_mcp["error"]


def test_a_disabled_agents_token_is_told_its_agent_is_disabled(client, secret):
    Agent.objects.filter(slug="openclaw-ops").update(enabled=False)

    for error in refusals(client, secret):
        assert error.startswith("agent openclaw-ops is disabled") and "\n" not in error


def test_an_internal_agents_token_is_told_its_agent_takes_no_outside_calls(client, secret):
    Agent.objects.filter(slug="openclaw-ops").update(runtime=Runtime.INTERNAL)

    for error in refusals(client, secret):
        assert error.startswith("agent openclaw-ops is internal") and "outside" in error


def test_an_unknown_or_revoked_token_still_gets_the_generic_refusal(client, outside, secret):
    revoked = AgentToken.issue(outside, "old", actor="test")
    revoked[0].revoke(actor="operator:ann")
    Agent.objects.filter(slug="openclaw-ops").update(enabled=False)

    for bad in ("opsa_guess", revoked[1], ""):
        assert refusals(client, bad) == (GENERIC, GENERIC)
