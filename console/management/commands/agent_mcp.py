"""Serve the agent bus as an MCP server over stdio for one agent, identified by its token in
an environment variable (never an argument: those show in `ps`). Point an MCP client at
`manage.py agent_mcp --token-env OPS_AGENT_TOKEN` with that variable set."""

import os
import sys

import anyio
from django.core.management.base import CommandError

from console.agent_mcp import build_server
from console.agent_mcp_wire import serve_stdio
from console.models import AgentToken, digest
from opscore.cli import REFUSED, OpsCommand, reader_gone


class Command(OpsCommand):
    help = "MCP server (stdio) exposing the agent-bus verbs as tools, for one agent's token."

    def add_arguments(self, parser):
        parser.add_argument("--token-env", default="OPS_AGENT_TOKEN")

    def handle(self, *args, token_env, **opts):
        secret = os.environ.get(token_env, "").strip()
        if not secret:  # not a wrong token: none was given (the README's line, pasted first)
            raise CommandError(
                f"${token_env} is not set: export an agent token (opsa_…) there, from "
                "`.venv/bin/opscore agent_token issue AGENT --name NAME` or admin → Agent tokens",
                returncode=REFUSED,
            )
        token = AgentToken.objects.active().filter(digest=digest(secret)).first()
        if token is None:
            raise CommandError(f"${token_env} holds no active agent token", returncode=REFUSED)
        try:
            anyio.run(serve_stdio, build_server(secret))
        except* BrokenPipeError:  # the SDK's writer meets it inside a task group
            sys.stderr.write("opscore agent_mcp: the client stopped reading its answers\n")
            reader_gone()
