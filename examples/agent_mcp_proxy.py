"""An MCP server (stdio) for a machine that holds nothing of Opscore but an agent's token: it
lists the agent-bus tools from `GET /api/agent/tools` and forwards each call to
`POST /api/agent/<verb>`. Needs only `pip install mcp httpx`.

    OPS_AGENT_URL=https://ops.example.com OPS_AGENT_TOKEN=opsa_… python agent_mcp_proxy.py
"""

import json
import os

import anyio
import httpx
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

DEADLINE_SECONDS = 30  # every call to Opscore has one


def build_proxy(client: httpx.Client) -> Server:
    """`client` carries the base URL and the bearer token."""

    def fetch_tools() -> list[types.Tool]:
        answer = client.get("/api/agent/tools").json()
        if not answer.get("ok"):
            raise RuntimeError(answer.get("error", "Opscore refused the token"))
        return [types.Tool.model_validate(t) for t in answer["tools"]]

    def forward(name: str, arguments: dict) -> dict:
        try:
            response = client.post(f"/api/agent/{name}", json=arguments)
            return response.json()
        except (httpx.HTTPError, ValueError) as error:
            return {"ok": False, "error": f"Opscore did not answer: {error}", "errors": {}}

    async def list_tools(ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=await anyio.to_thread.run_sync(fetch_tools))

    async def call_tool(ctx, params) -> types.CallToolResult:
        body = await anyio.to_thread.run_sync(forward, params.name, params.arguments or {})
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(body))],
            structured_content=body,
            is_error=not body.get("ok", False),
        )

    return Server("opscore-agentbus-proxy", on_list_tools=list_tools, on_call_tool=call_tool)


def main() -> None:
    headers = {"Authorization": f"Bearer {os.environ['OPS_AGENT_TOKEN']}"}
    client = httpx.Client(
        base_url=os.environ["OPS_AGENT_URL"], headers=headers, timeout=DEADLINE_SECONDS
    )
    server = build_proxy(client)

    async def serve():
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(serve)


if __name__ == "__main__":
    main()
