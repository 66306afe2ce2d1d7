"""An MCP server (stdio) for a machine that holds nothing of Opscore but an agent's token: it
lists the agent-bus tools from `GET /api/agent/tools` and forwards each call to
`POST /api/agent/<verb>`. Needs only `pip install mcp httpx`.

    OPS_AGENT_URL=https://ops.example.com OPS_AGENT_TOKEN=opsa_… python agent_mcp_proxy.py
"""

import io
import json
import os
import sys
from urllib.parse import quote

import anyio
import httpx
from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

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
        """The name is the client's (a model's) text: quoted whole, so `../` or a `?` in it
        never points the token at another address than the verb's."""
        try:
            response = client.post(f"/api/agent/{quote(name, safe='')}", json=arguments)
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


def unique_keys(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    if twice := next((key for key in keys if keys.count(key) > 1), None):
        raise ValueError(f"the key {twice!r} is given twice in one object: which is meant?")
    return dict(pairs)


def no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def read_message(line: bytes) -> SessionMessage | types.JSONRPCError:
    """One line as a message for the server, or the error that answers it. The SDK's own
    reader replaced bytes that are not UTF-8 with U+FFFD and kept the last of a key given
    twice, so a call went on with other words than were sent; a line it could not read (or a
    request whose id is null, read as a notification) was never answered."""
    try:
        value = json.loads(line.decode(), object_pairs_hook=unique_keys, parse_constant=no_constant)
    except UnicodeDecodeError as error:
        return refusal(types.PARSE_ERROR, f"not valid UTF-8 (byte {error.start})", line)
    except (ValueError, RecursionError) as error:
        return refusal(types.PARSE_ERROR, f"not valid JSON: {error}", line)
    try:
        message = types.jsonrpc_message_adapter.validate_python(value, by_name=False)
    except ValidationError as invalid:  # its own words span lines: the first problem, on one
        first = invalid.errors()[0]
        where = ".".join(map(str, first["loc"])) or "message"
        return refusal(types.INVALID_REQUEST, f"{where}: {first['msg']}", line)
    if isinstance(message, types.JSONRPCNotification) and "id" in value:
        return refusal(types.INVALID_REQUEST, "id: a string or an integer", b"")
    return SessionMessage(message)


def refusal(code: int, message: str, line: bytes) -> types.JSONRPCError:
    """The error answering `line`, with its id when a lenient reading finds one."""
    try:
        found = json.loads(line.decode(errors="replace")).get("id")
    except (ValueError, RecursionError, AttributeError):
        found = None
    request_id = found if isinstance(found, int | str) and not isinstance(found, bool) else None
    error = types.ErrorData(code=code, message=f"line: {message}")
    return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error)


async def lines_of(stream):
    while line := await anyio.to_thread.run_sync(stream.readline):
        if line.strip():
            yield line.rstrip(b"\r\n")


class Drain:
    """Between the pipe and the server: each line is read (read_message), and the requests
    read and not yet answered are counted, so that the end of input (a client that sends its
    calls and closes stdin) waits for their answers instead of ending the server with the calls
    still in flight, their answers dropped. A request the client cancels is not waited for."""

    def __init__(self):
        self.waiting: set = set()
        self.used: set = set()  # every request id of the session
        self.answered = anyio.Event()

    async def read(self, lines, inbox, stdout) -> None:
        async with inbox:
            async for line in lines:
                item = read_message(line)
                item = self.reused(item) or item
                if isinstance(item, types.JSONRPCError):
                    await stdout.send(SessionMessage(item))
                    continue
                self.expect(item.message)
                await inbox.send(item)
            with anyio.move_on_after(DEADLINE_SECONDS):  # no call outlives its deadline
                while self.waiting:
                    await self.answered.wait()
                    self.answered = anyio.Event()

    def reused(self, item) -> types.JSONRPCError | None:
        """MCP forbids a request id used before in the session: forwarded, both calls ran and
        were answered under one id, and the first answer ended the wait for the second. It is
        answered under no id, which would name the other call."""
        message = getattr(item, "message", None)
        if not isinstance(message, types.JSONRPCRequest):
            return None
        if message.id in self.used:
            said = f"id: {message.id!r} was used before in this session"
            return types.JSONRPCError(
                jsonrpc="2.0",
                id=None,
                error=types.ErrorData(code=types.INVALID_REQUEST, message=said),
            )
        self.used.add(message.id)
        return None

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
    is answered. Its lines are read here, not by the SDK (which is given no line)."""
    async with stdio_server(stdin=anyio.wrap_file(io.StringIO())) as (unused, stdout):
        unused.close()
        drain = Drain()
        inbox_writer, inbox = anyio.create_memory_object_stream(0)
        outbox, outbox_reader = anyio.create_memory_object_stream(0)
        async with anyio.create_task_group() as tasks:
            lines = lines_of(sys.stdin.buffer)
            tasks.start_soon(drain.read, lines, inbox_writer, stdout)
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
