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
CANCELLED = "notifications/cancelled"  # the request it names is never answered


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


class Drain:
    """Between the SDK's stdio pipe and the server: the requests read and not yet answered
    are counted, so that the end of input (a client that sends its calls and closes stdin)
    waits for their answers instead of ending the server with the calls still in flight,
    their answers dropped. A request the client cancels is not waited for."""

    def __init__(self):
        self.waiting: set = set()
        self.answered = anyio.Event()

    async def read(self, stdin, inbox) -> None:
        async with inbox:
            async for item in stdin:
                self.expect(getattr(item, "message", None))
                await inbox.send(item)
            with anyio.move_on_after(DEADLINE_SECONDS):  # no call outlives its deadline
                while self.waiting:
                    await self.answered.wait()
                    self.answered = anyio.Event()

    def expect(self, message) -> None:
        if isinstance(message, types.JSONRPCRequest):
            self.waiting.add(message.id)
        elif isinstance(message, types.JSONRPCNotification) and message.method == CANCELLED:
            self.waiting.discard((message.params or {}).get("requestId"))
            self.answered.set()

    async def relay(self, outbox, stdout) -> None:
        async with outbox:
            async for item in outbox:
                if isinstance(item.message, types.JSONRPCResponse | types.JSONRPCError):
                    self.waiting.discard(item.message.id)
                    self.answered.set()
                await stdout.send(item)


async def serve_stdio(server: Server) -> None:
    """Serve one client on stdin and stdout until its input ends and every request it sent
    is answered."""
    async with stdio_server() as (stdin, stdout):
        drain = Drain()
        inbox_writer, inbox = anyio.create_memory_object_stream(0)
        outbox, outbox_reader = anyio.create_memory_object_stream(0)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(drain.read, stdin, inbox_writer)
            tasks.start_soon(drain.relay, outbox_reader, stdout)
            await server.run(inbox, outbox, server.create_initialization_options())
        await stdout.aclose()


def main() -> None:
    headers = {"Authorization": f"Bearer {os.environ['OPS_AGENT_TOKEN']}"}
    client = httpx.Client(
        base_url=os.environ["OPS_AGENT_URL"], headers=headers, timeout=DEADLINE_SECONDS
    )
    anyio.run(serve_stdio, build_proxy(client))


if __name__ == "__main__":
    main()
