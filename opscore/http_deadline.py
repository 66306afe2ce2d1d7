"""Connections held to one deadline for a whole call: connect, TLS handshake, every write and
every read. httpx's timeouts bound each of these alone (and httpcore takes one read timeout
for all of a response's headers, another for its body), so a server that answers late and
then trickles, or a connect that took most of the time, holds the caller for several
timeouts in a row; only a limit on every single socket operation ends the call on time.

Used under httpx (httpcore) by the page fetches and outside calls of the apps above, and under
the Anthropic SDK's httpx2 (httpcore2, the same interface) by the model providers: `core` says
which, so a deadline's timeout is the exception that stack maps (httpx2 maps no httpcore
error, and would let it through as a fault nobody foresaw)."""

import math
import time
from collections.abc import Callable

import httpcore


def time_left(deadline: float, timeout: float | None, core=httpcore) -> float | None:
    """The timeout for one network operation: what is left of the deadline, at most. None
    (no timeout) only when neither sets one."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise core.ReadTimeout("the call's overall deadline passed")
    if timeout is not None and timeout <= left:
        return timeout
    return None if left == math.inf else left


class DeadlineStream(httpcore.NetworkStream):
    """A connection on which no read, write or TLS handshake outlasts the call's deadline.
    `deadline()` says when: read at every operation, so a pooled connection keeps the deadline
    of the call using it now."""

    def __init__(self, stream, deadline: Callable[[], float], core=httpcore):
        self.stream, self.deadline, self.core = stream, deadline, core

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, time_left(self.deadline(), timeout, self.core))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, time_left(self.deadline(), timeout, self.core))

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        left = time_left(self.deadline(), timeout, self.core)
        tls = self.stream.start_tls(ssl_context, server_hostname, left)
        return DeadlineStream(tls, self.deadline, self.core)

    def get_extra_info(self, info: str):
        return self.stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, deadline: Callable[[], float], core=httpcore):
        self.network, self.deadline, self.core = core.SyncBackend(), deadline, core

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        left = time_left(self.deadline(), timeout, self.core)
        stream = self.network.connect_tcp(host, port, left, local_address, socket_options)
        return DeadlineStream(stream, self.deadline, self.core)

    def sleep(self, seconds: float) -> None:
        self.network.sleep(seconds)


def held_to(transport, deadline: Callable[[], float], core=httpcore):
    """`transport` (an httpx or httpx2 HTTPTransport, direct or through a proxy) with its
    connections held to `deadline()`. httpx has no option for httpcore's network backend, so
    its pool's is set; connections are made on first use, so all of them have it."""
    transport._pool._network_backend = DeadlineBackend(deadline, core)
    return transport
