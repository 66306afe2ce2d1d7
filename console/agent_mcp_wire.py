"""The stdio wire of `manage.py agent_mcp`. The SDK's stdio transport writes the answers (and
keeps stray prints off stdout while it serves); each line the runtime sends is read here, as
every other boundary reads a body (opscore.inputs). The SDK's own reader replaced bytes that are
not UTF-8 with U+FFFD and kept the last of a key given twice, so the tool acted on other words
than were sent; it dropped a line it could not read with a debug log, so a request in it waited
for its answer forever; and at the end of input it cancelled the calls still running and
answered them 'Connection closed', though their work was done (a claimed job's lease token was
lost with its answer). Here each line is answered, and the end of input waits for the answers."""

import io
import json
import sys

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from opscore.inputs import InputRefused, describe_invalid, max_bytes, max_depth, parse_frame

# A line wraps a tool call's arguments in three levels (the message, its params, the arguments);
# the arguments are held to the body limits themselves (console.agent_mcp.within_limits).
ENVELOPE_DEPTH = 3
# How long the answers to calls still running are awaited once the input has ended.
DRAIN_SECONDS = 30
CANCELLED = "notifications/cancelled"  # the request it names is never answered
SKIP_CHUNK = 64 * 1024  # what is read at a time of a line too long to keep


def line_limit() -> int:
    """The longest line worth reading: a body at its limit with every byte written as a
    six-byte escape, and the envelope around it. A longer one cannot hold an acceptable call,
    and reading it whole would let a runtime fill the server's memory with one line."""
    return 6 * max_bytes() + 4096


async def lines_of(stream, limit: int):
    """Each line of `stream` (bytes), or None for a line longer than `limit`, which is read
    past in chunks and never held whole."""
    read = anyio.to_thread.run_sync
    while line := await read(stream.readline, limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while line and not line.endswith(b"\n"):
            line = await read(stream.readline, SKIP_CHUNK)
        yield None


def read_message(line: bytes) -> SessionMessage | types.JSONRPCError:
    """One line as a message for the server, or the error that answers it."""
    try:
        value = parse_frame(line.rstrip(b"\r\n"), "line", max_depth() + ENVELOPE_DEPTH)
    except InputRefused as refused:
        return refusal(types.PARSE_ERROR, str(refused), id_in(line))
    try:
        message = types.jsonrpc_message_adapter.validate_python(value, by_name=False)
    except ValidationError as invalid:
        return refusal(types.INVALID_REQUEST, describe_invalid(invalid), id_of(value))
    if isinstance(message, types.JSONRPCNotification) and "id" in value:
        # The SDK reads {"id": null, …} (or an object, true, 1.5) as a notification: unanswered.
        return refusal(types.INVALID_REQUEST, "id: a string or an integer", None)
    return SessionMessage(message)


def too_long() -> types.JSONRPCError:
    """Its id is not looked for: that would mean reading the line."""
    return refusal(types.PARSE_ERROR, f"line: longer than {line_limit()} bytes", None)


def refusal(code: int, message: str, request_id) -> types.JSONRPCError:
    error = types.ErrorData(code=code, message=message)
    return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error)


def id_in(line: bytes) -> int | str | None:
    """The id of a request that cannot be served, read leniently so that it still gets its
    answer; None (JSON-RPC's null) when even that fails."""
    try:
        value = json.loads(line.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    return id_of(value)


def id_of(value) -> int | str | None:
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, int | str) and not isinstance(found, bool) else None


class Wire:
    """Between the pipe and the server: what comes in is read (read_message), what goes out is
    relayed, and the requests not yet answered are counted, so the end of input waits for them."""

    def __init__(self, stdout):
        self.stdout = stdout
        self.waiting: set = set()
        self.used: set = set()  # every request id of the session
        self.answered = anyio.Event()

    async def read(self, lines, inbox) -> None:
        async with inbox:
            async for line in lines:
                if line is not None and not line.strip():
                    continue
                item = read_message(line) if line is not None else too_long()
                item = self.reused(item) or item
                if isinstance(item, types.JSONRPCError):
                    await self.stdout.send(SessionMessage(item))
                    continue
                self.expect(item.message)
                await inbox.send(item)
            with anyio.move_on_after(DRAIN_SECONDS):
                while self.waiting:
                    await self.answered.wait()
                    self.answered = anyio.Event()

    def reused(self, item) -> types.JSONRPCError | None:
        """MCP forbids a request id used before in the session: served, two calls answered
        under one id (which answer was whose?), and the first answer ended the wait for the
        second, whose answer (a claimed job's lease token) the end of input could drop. It is
        answered under no id, which would name the other call."""
        message = getattr(item, "message", None)
        if not isinstance(message, types.JSONRPCRequest):
            return None
        if message.id in self.used:
            return refusal(
                types.INVALID_REQUEST, f"id: {message.id!r} was used before in this session", None
            )
        self.used.add(message.id)
        return None

    def expect(self, message) -> None:
        if isinstance(message, types.JSONRPCRequest):
            self.waiting.add(message.id)
        elif isinstance(message, types.JSONRPCNotification) and message.method == CANCELLED:
            self.waiting.discard((message.params or {}).get("requestId"))
            self.answered.set()

    async def relay(self, outbox) -> None:
        async with outbox:
            async for item in outbox:
                if isinstance(item.message, types.JSONRPCResponse | types.JSONRPCError):
                    self.waiting.discard(item.message.id)
                    self.answered.set()
                await self.stdout.send(item)


async def serve_stdio(server: Server) -> None:
    """Serve one runtime on stdin and stdout until its input ends and every request is
    answered (or DRAIN_SECONDS have passed). Reading stdin here gives up the SDK's pointing of
    fd 0 at /dev/null while it serves, which no verb needs: none reads stdin for a remote
    caller (agentbus_inputs.REMOTE)."""
    nothing = anyio.wrap_file(io.StringIO())  # the SDK reads no line: they are read here
    async with stdio_server(stdin=nothing) as (unused, stdout):
        unused.close()
        wire = Wire(stdout)
        inbox_writer, inbox = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        outbox, outbox_reader = anyio.create_memory_object_stream[SessionMessage](0)
        async with anyio.create_task_group() as tasks:
            lines = lines_of(sys.stdin.buffer, line_limit())
            tasks.start_soon(wire.read, lines, inbox_writer)
            tasks.start_soon(wire.relay, outbox_reader)
            await server.run(inbox, outbox, server.create_initialization_options())
        await stdout.aclose()
