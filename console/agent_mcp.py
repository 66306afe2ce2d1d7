"""The agent bus as an MCP server (the official `mcp` SDK): one tool per agent-bus verb, its
input schema read off the CLI's parser, each call authenticated by the agent's token, rate
-limited and confined exactly as the HTTP API is (console.agentbus_remote), so Claude Code or
any MCP client can work for an agent with nothing but that token."""

import argparse
import json
import logging

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from mcp import types
from mcp.server.lowlevel import Server

from console.agentbus_inputs import BadInput, json_key
from console.agentbus_remote import (
    NOT_REMOTE,
    filled_in,
    json_kind,
    serve,
    takes_json,
    verb_actions,
    verb_parsers,
)
from console.models import AgentToken
from console.outage import RETRY_AFTER_SECONDS, database_fault
from opscore.inputs import InputRefused, parse_json
from opscore.redaction import scrub

log = logging.getLogger(__name__)
INSTRUCTIONS = (
    "Opscore's agent bus, acting as one agent. Claim your jobs (claim-jobs), keep the lease "
    "(renew-job-lease), and close each one with complete-job, block-job or fail-job using the "
    "job's lease_token. Every result is JSON with ok true or false and an error."
)


def option_schema(action: argparse.Action) -> dict:
    if isinstance(action, argparse._StoreTrueAction):
        return {"type": "boolean", "default": False}
    if takes_json(action):
        return {"type": ["object", "array", "string"], "description": "JSON"}
    kind = {int: "integer", float: "number"}.get(json_kind(action), "string")
    schema: dict = {"type": kind}
    if action.choices is not None:
        schema["enum"] = list(action.choices)
    if isinstance(action, argparse._AppendAction):
        schema = {"type": "array", "items": schema}
    elif action.default is not None and action.default not in (argparse.SUPPRESS, ""):
        schema["default"] = action.default
    return schema | ({"description": action.help} if action.help else {})


def tool(verb: str, parser: argparse.ArgumentParser) -> types.Tool:
    actions = verb_actions(parser)
    optional = filled_in(verb)
    required = [
        a.dest for a in actions if (a.required or not a.option_strings) and a.dest not in optional
    ]
    schema = {
        "type": "object",
        "properties": {a.dest: option_schema(a) for a in actions},
        "required": required,
        "additionalProperties": False,
    }
    return types.Tool(name=verb, description=f"agentbus {verb}", input_schema=schema)


def call(secret: str, verb: str, arguments: dict) -> dict:
    """One tool call, answered as the HTTP API answers its request, faults included: left to
    the SDK, a database error or a bug was answered in the exception's own words (over stdio;
    the driver's name tables, rows and hosts) instead of the API's one line."""
    if not connection.in_atomic_block:  # a long-lived server outlives its connections
        close_old_connections()
    try:
        return admitted_call(secret, verb, arguments)
    except (OperationalError, InterfaceError) as error:
        said = database_fault(error, f"agent_mcp {named(verb)}")
        return {"ok": False, "error": said, "errors": {}, "retry_after": RETRY_AFTER_SECONDS}
    except Exception:
        log.exception("agent_mcp: tool %s failed", named(verb))
        return {"ok": False, "error": "internal server error", "errors": {}}


def named(verb: str) -> str:
    """A tool's name as the log shows it: what the runtime sent, so masked and cut short."""
    return repr(scrub(verb)[:100])


def admitted_call(secret: str, verb: str, arguments: dict) -> dict:
    """Admit the token, then run the verb."""
    admission = AgentToken.objects.admit(secret)
    if admission is None:
        return {"ok": False, "error": "missing, unknown or revoked agent token", "errors": {}}
    if admission.refused:
        return {"ok": False, "error": admission.refused, "errors": {}}
    if not admission.admitted:
        wait = admission.retry_after
        return {"ok": False, "error": f"rate limit: retry in {wait} s", "errors": {}}
    try:
        return serve(admission.agent, verb, within_limits(arguments))
    except InputRefused as refused:
        return {"ok": False, "error": "invalid arguments", "errors": refused.errors}
    except BadInput as bad:
        return bad.as_json(json_key)


def within_limits(arguments: dict) -> dict:
    """The arguments held to an HTTP body's limits (size, nesting, NUL, lone surrogates,
    NaN) by reading them as that body would be read: the SDK hands them over already
    parsed, and a NUL or a lone surrogate otherwise reaches the database as a DataError or
    a UnicodeEncodeError — an internal error, not the tool's answer."""
    return parse_json(json.dumps(arguments), "arguments")


def remote_tools() -> list[types.Tool]:
    return [tool(v, p) for v, p in sorted(verb_parsers().items()) if v not in NOT_REMOTE]


def build_server(secret: str) -> Server:
    async def list_tools(ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=remote_tools())

    async def call_tool(ctx, params) -> types.CallToolResult:
        body = await sync_to_async(call)(secret, params.name, params.arguments or {})
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(body))],
            structured_content=body,
            is_error=not body["ok"],
        )

    return Server(
        "opscore-agentbus",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
