"""Connections held to one deadline for a whole call: connect, TLS handshake, every write and
every read. httpx's timeouts bound each of these alone (and httpcore takes one read timeout
for all of a response's headers, another for its body), so a server that answers late and
then trickles, or a connect that took most of the time, holds the caller for several
timeouts in a row; only a limit on every single socket operation ends the call on time.

Used under httpx (httpcore) by the page fetches and outside calls of the apps above, and under
the Anthropic SDK's httpx2 (httpcore2, the same interface) by the model providers: `core` says
which, so a deadline's timeout is the exception that stack maps (httpx2 maps no httpcore
error, and would let it through as a fault nobody foresaw)."""

import concurrent.futures
import ipaddress
import math
import socket
import threading
import time
from collections.abc import Callable

import httpcore


def time_left(deadline: float, timeout: float | None, core=httpcore, late=None) -> float | None:
    """The timeout for one network operation: what is left of the deadline, at most. None
    (no timeout) only when neither sets one. Past the deadline, `late` (the stack's
    ReadTimeout unless said) ends the call."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise (late or core.ReadTimeout)("the call's overall deadline passed")
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


LOOKUPS_AT_ONCE = 16
"""Name lookups waiting on the resolver at once, in the whole process. A lookup its caller
stopped waiting for keeps its thread until the resolver gives up (often 10-30 s, or never): a
name that never resolves, asked for again and again (or a page linking many such names), would
otherwise pile those threads up without end. Healthy calls look up a few hosts at a time, and
a lookup of a (host, port) already in flight is shared, so 16 is only reached when the
resolver has stopped answering; then a lookup is refused at once, never queued."""


class TooManyLookups(OSError):
    """LOOKUPS_AT_ONCE lookups already wait on the resolver: this one is refused, not started.
    An OSError, so a connect fails on it as on any other failed lookup."""


_in_flight: dict[tuple[str, int], concurrent.futures.Future] = {}
_in_flight_lock = threading.Lock()


def looked_up(host: str, port: int, timeout: float | None) -> list[str]:
    """`host`'s addresses, or TimeoutError once `timeout` has passed without them. getaddrinfo
    takes no timeout (only the resolver's own retries end it, often after 10-30 s), so it runs
    in a thread of its own, left to finish alone (a daemon: it never holds the process). Past
    LOOKUPS_AT_ONCE such threads, TooManyLookups at once."""
    found = lookup_of(host, port)
    return list(dict.fromkeys(info[4][0] for info in found.result(timeout)))


def lookup_of(host: str, port: int) -> concurrent.futures.Future:
    """The lookup of `host` and `port` still in flight, or a new one started in its own thread
    when fewer than LOOKUPS_AT_ONCE are."""
    key = (host, port)
    with _in_flight_lock:
        if key in _in_flight:
            return _in_flight[key]
        if len(_in_flight) >= LOOKUPS_AT_ONCE:
            raise TooManyLookups(
                f"not looking up {host}: {LOOKUPS_AT_ONCE} name lookups already wait on the"
                " resolver, the most allowed at once"
            )
        found = _in_flight[key] = concurrent.futures.Future()
    looking = threading.Thread(
        target=look_up, args=(key, found), name=f"lookup {host}", daemon=True
    )
    try:
        looking.start()
    except BaseException as error:  # no thread to be had: the slot is freed all the same
        answered(key, found, error)
        raise
    return found


def look_up(key: tuple[str, int], found: concurrent.futures.Future) -> None:
    """One lookup, in its own thread, however long the resolver takes."""
    try:
        outcome = socket.getaddrinfo(*key, type=socket.SOCK_STREAM)
    except BaseException as error:
        outcome = error
    answered(key, found, outcome)


def answered(key: tuple[str, int], found: concurrent.futures.Future, outcome) -> None:
    """`found` given its outcome (addresses, or the error that ended the lookup), its slot freed
    first: whoever sees the outcome, or gave up waiting for it, finds the slot free."""
    with _in_flight_lock:
        if _in_flight.get(key) is found:
            del _in_flight[key]
    if isinstance(outcome, BaseException):
        found.set_exception(outcome)
    else:
        found.set_result(outcome)


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class DeadlineBackend(httpcore.NetworkBackend):
    """Connects within the deadline, name lookup included: httpcore's own backend hands the
    host name to socket.create_connection, whose lookup has no timeout and whose every address
    gets the whole connect timeout again."""

    def __init__(self, deadline: Callable[[], float], core=httpcore):
        self.network, self.deadline, self.core = core.SyncBackend(), deadline, core

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        deadline = self.deadline()
        if deadline == math.inf or is_address(host):
            addresses = [host]  # no deadline: looked up as before, each connect its timeout
        else:
            addresses = self.addresses(host, port, deadline)
        stream = self.connected(addresses, port, deadline, timeout, local_address, socket_options)
        return DeadlineStream(stream, self.deadline, self.core)

    def addresses(self, host: str, port: int, deadline: float) -> list[str]:
        """`host` looked up within what is left of the deadline. TLS still checks the name:
        httpcore hands it to start_tls itself."""
        late = self.core.ConnectTimeout
        try:
            return looked_up(host, port, time_left(deadline, None, self.core, late))
        except TimeoutError:
            raise late(f"the call's overall deadline passed looking up {host}") from None
        except OSError as error:
            raise self.core.ConnectError(str(error)) from error

    def connected(self, addresses: list[str], port: int, deadline: float, timeout, *options):
        """The first of `addresses` that connects, each given only what is left of the
        deadline (at most `timeout`); none is tried once it has passed."""
        failed = self.core.ConnectError("no address to connect to")
        for address in addresses:
            left = time_left(deadline, timeout, self.core, self.core.ConnectTimeout)
            try:
                return self.network.connect_tcp(address, port, left, *options)
            except (self.core.ConnectError, self.core.ConnectTimeout) as error:
                failed = error
        raise failed

    def sleep(self, seconds: float) -> None:
        self.network.sleep(seconds)


def held_to(transport, deadline: Callable[[], float], core=httpcore):
    """`transport` (an httpx or httpx2 HTTPTransport, direct or through a proxy) with its
    connections held to `deadline()`. httpx has no option for httpcore's network backend, so
    its pool's is set; connections are made on first use, so all of them have it."""
    transport._pool._network_backend = DeadlineBackend(deadline, core)
    return transport
