"""Egress for a harness that needs its model's API (claude, codex): the box has its own network
namespace whose only way out is this proxy, reached through a Unix socket mounted into the box
and forwarded there to 127.0.0.1:3128 (coding/jail.py). The harness sees HTTPS_PROXY and
HTTP_PROXY naming that address; it may open an HTTP CONNECT tunnel to a host:port the operator
listed in OPS_CODING_EGRESS and nothing else. Every other request — another host or port, a
plain HTTP request, a listed name that resolves to a loopback, private or link-local address —
is answered 403 and recorded; the run's notes say each refusal.

A stdlib proxy (threads, one per tunnel) rather than a library: it needs CONNECT with an
allow-list and a record of what it refused, nothing of a general proxy's caching or rewriting.
"""

import contextlib
import ipaddress
import os
import socket
import threading
import time
from pathlib import Path

from opscore.addresses import inward
from opscore.http_deadline import looked_up

BOX_PORT = 3128  # the proxy's address inside the box's own network namespace
CONNECT_SECONDS = 10.0  # to reach a listed host
HEAD_SECONDS = 10.0  # for the harness to send its request line
IDLE_SECONDS = 300.0  # a tunnel with no traffic either way for this long is closed
HEAD_LIMIT = 8192
# Refusals named one by one in the run's notes (each a coding.run.sandbox event); past these
# they are counted: a harness looping on refused requests (a thousand a second) would
# otherwise write an event each and hold each in the driver's memory.
NAMED_REFUSALS = 20
# Connections served at once, each a thread of the driver's: a harness opening thousands and
# saying nothing would hold a thread each for HEAD_SECONDS; past these, 503 and a refusal.
MAX_OPEN = 64


def box_env() -> dict:
    """What the harness sees: a proxy on its own loopback, for HTTPS and HTTP alike."""
    url = f"http://127.0.0.1:{BOX_PORT}"
    names = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY")
    return {name: url for name in names} | {"NO_PROXY": "", "no_proxy": ""}


def literal_ip(host: str) -> bool:
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return True
    return False


class EgressProxy:
    """Listens on `socket_path` while a boxed command runs; `refused` names the first refusals,
    `refused_more` counts the rest."""

    def __init__(
        self, socket_path: Path, allow: list[tuple[str, int]], connect_seconds=CONNECT_SECONDS
    ):
        self.path = Path(socket_path)
        self.connect_seconds = connect_seconds
        self.allow = {(host.lower(), port) for host, port in allow}
        self.refused: list[dict] = []
        self.refused_more = 0
        self._lock = threading.Lock()
        self._open = threading.BoundedSemaphore(MAX_OPEN)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def __enter__(self) -> "EgressProxy":
        self.path.unlink(missing_ok=True)
        self._server.bind(str(self.path))
        os.chmod(self.path, 0o666)  # the box's unprivileged uid connects to it
        self._server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self.path.unlink(missing_ok=True)

    def refusals(self) -> tuple[list[dict], int]:
        """The refusals named, and how many more there were."""
        with self._lock:
            return list(self.refused), self.refused_more

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._open.acquire(blocking=False):
                self._turn_away(client)
                continue
            threading.Thread(target=self._serve_one, args=(client,), daemon=True).start()

    def _turn_away(self, client: socket.socket) -> None:
        with client, contextlib.suppress(OSError):
            self._refuse("(a connection)", f"over {MAX_OPEN} at once")
            client.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")

    def _serve_one(self, client: socket.socket) -> None:
        try:
            with contextlib.suppress(OSError):  # a client gone before its answer
                self._serve(client)
        finally:
            self._open.release()

    def _refuse(self, target: str, reason: str) -> None:
        with self._lock:
            if len(self.refused) < NAMED_REFUSALS:
                self.refused.append({"target": target[:300], "reason": reason})
            else:
                self.refused_more += 1

    def _serve(self, client: socket.socket) -> None:
        with client:
            head, rest = read_head(client)
            target, reason = self.judge(head)
            if reason:
                self._refuse(target, reason)
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            try:
                upstream = self.open(target)
            except OSError as error:
                self._refuse(target, f"could not connect: {error}")
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            with upstream:
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                tunnel(client, upstream)

    def judge(self, head: bytes) -> tuple[str, str]:
        """(host:port asked for, why it is refused — '' when allowed)."""
        words = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            return head[:80].decode("latin-1"), "not an HTTP request"
        method, target = words[0], words[1]
        if method != "CONNECT":
            return target, f"{method} refused: only CONNECT tunnels to listed hosts"
        host, _, port = target.rpartition(":")
        host = host.strip("[]").lower()
        if not port.isdecimal() or (host, int(port)) not in self.allow:  # "²" is a digit
            return target, "not in OPS_CODING_EGRESS"
        return target, ""

    def open(self, target: str) -> socket.socket:
        """Connect to a listed host, lookup and connect within `connect_seconds` in all: a name
        must resolve outward (never a loopback or private address of the machine's own
        network); a listed literal IP is the operator's choice."""
        host, _, port = target.rpartition(":")
        host = host.strip("[]").lower()
        ends = time.monotonic() + self.connect_seconds
        address = host if literal_ip(host) else self.outward_address(host, int(port))
        left = ends - time.monotonic()
        if left <= 0:
            raise OSError(f"{host} was not reached within {self.connect_seconds:g} s")
        return socket.create_connection((address, int(port)), timeout=left)

    def outward_address(self, host: str, port: int) -> str:
        """`host`'s first outward address, looked up within `connect_seconds`: the resolver
        takes no timeout, and the harness would wait on it with this proxy's thread."""
        try:
            addresses = looked_up(host, port, self.connect_seconds)
        except TimeoutError:
            raise OSError(f"{host} was not looked up within {self.connect_seconds:g} s") from None
        outward = [address for address in addresses if not inward(address)]
        if not outward:
            raise OSError(f"{host} resolves only to inward addresses")
        return outward[0]


def read_head(client: socket.socket) -> tuple[bytes, bytes]:
    """The request line and headers (up to HEAD_LIMIT, within HEAD_SECONDS), and what came
    after them already."""
    client.settimeout(HEAD_SECONDS)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data and len(data) < HEAD_LIMIT:
            chunk = client.recv(4096)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def tunnel(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until either side closes or nothing moves for IDLE_SECONDS."""
    for side in (a, b):
        side.settimeout(IDLE_SECONDS)
    back = threading.Thread(target=copy, args=(b, a), daemon=True)
    back.start()
    copy(a, b)
    back.join(IDLE_SECONDS)


def copy(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
