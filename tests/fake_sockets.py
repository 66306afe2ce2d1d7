"""A model host behind fake sockets, on a monotonic clock only they (and pauses) move.

It stands at the lowest I/O seams, `socket.create_connection` and the deadline's name lookup
(opscore.http_deadline.looked_up), so the real httpx/httpcore stack
(and the Anthropic SDK's httpx2/httpcore2) runs above it as in production, handing every
connect and read the timeout it would hand a real socket. A socket waits as a real one would:
what comes later than its timeout ends the wait at the timeout (`TimeoutError`), and the
clock moves by what was waited, never by wall time.

Only the test's own thread sees the fakes: a thread an earlier test left running (a lease
keeper, a wake hook) keeps the real clock, sleep and network, and never moves this clock or
takes this host's answers."""

import ipaddress
import math
import socket
import threading
import time
from dataclasses import dataclass, field


class Clock:
    """time.monotonic as the test moves it."""

    def __init__(self, now: float = 1000.0):
        self.now, self.owner = now, threading.get_ident()
        self.real_monotonic, self.real_sleep = time.monotonic, time.sleep

    def __call__(self) -> float:
        return self.now if self.mine() else self.real_monotonic()

    def mine(self) -> bool:
        return threading.get_ident() == self.owner

    def wait(self, seconds: float, timeout: float | None) -> None:
        """Move by `seconds`, or by `timeout` when that is shorter (then the wait timed out)."""
        if timeout is not None and seconds > timeout:
            self.now += timeout
            raise TimeoutError("timed out")
        if seconds == math.inf:
            raise AssertionError("a socket without a timeout would wait for ever")
        self.now += seconds

    def sleeper(self, overrun: float = 0.0):
        """time.sleep that moves the clock, by `overrun` more than asked (a pause that ended
        late)."""

        def sleep(seconds: float) -> None:
            if not self.mine():
                return self.real_sleep(seconds)
            return self.wait(seconds + overrun, None)

        return sleep


@dataclass
class Host:
    """One connection's script: how long the connect takes, then (seconds later, bytes) for
    each read; after the last, the host says nothing more."""

    connect: float = 0.0
    answers: list = field(default_factory=list)


@dataclass
class Lookup:
    """One name lookup's script: how long the resolver takes, and the addresses it gives."""

    seconds: float = 0.0
    addresses: list = field(default_factory=lambda: ["10.0.0.1"])


class Network:
    """`socket.create_connection`'s stand-in: the next connection plays the next Host, and a
    name is first looked up as the next Lookup says (no lookup for an address). `handed` is
    every (operation, timeout) a socket or a lookup was given, in order."""

    def __init__(self, clock: Clock, *hosts: Host):
        self.clock, self.hosts, self.handed, self.lookups = clock, list(hosts), [], []
        self.real_connect = socket.create_connection
        self.real_looked_up = None

    def install(self, monkeypatch) -> "Network":
        """The fakes in place of the clock, the sockets and the name lookup."""
        monkeypatch.setattr("time.monotonic", self.clock)
        monkeypatch.setattr("socket.create_connection", self.create_connection)
        import opscore.http_deadline

        self.real_looked_up = opscore.http_deadline.looked_up
        monkeypatch.setattr(opscore.http_deadline, "looked_up", self.looked_up)
        return self

    def looked_up(self, host: str, port: int, timeout: float | None) -> list:
        """opscore.http_deadline.looked_up's stand-in: the lookup waited at most `timeout`."""
        if not self.clock.mine():
            return self.real_looked_up(host, port, timeout)
        lookup = self.lookups.pop(0) if self.lookups else Lookup()
        self.handed.append(("lookup", timeout))
        self.clock.wait(lookup.seconds, timeout)
        return list(lookup.addresses)

    def create_connection(self, address, timeout=None, source_address=None):
        """As the real one: a name is looked up with no timeout at all, then each address is
        tried with the whole `timeout` again."""
        if not self.clock.mine():
            return self.real_connect(address, timeout, source_address=source_address)
        if is_name(address[0]):
            return self.each_address(self.looked_up(address[0], address[1], None), timeout)
        return self.connected(timeout)

    def each_address(self, addresses: list, timeout):
        for _address in addresses:
            try:
                return self.connected(timeout)
            except TimeoutError as error:
                failed = error
        raise failed

    def connected(self, timeout):
        host = self.hosts.pop(0) if self.hosts else Host(connect=math.inf)
        self.handed.append(("connect", timeout))
        self.clock.wait(host.connect, timeout)
        return FakeSocket(self, list(host.answers))

    def timeouts(self, *operations: str) -> list:
        return [timeout for operation, timeout in self.handed if operation in operations]


class FakeSocket:
    def __init__(self, network: Network, answers: list):
        self.network, self.answers, self.timeout = network, answers, None

    def settimeout(self, timeout):
        self.timeout = timeout

    def recv(self, max_bytes: int) -> bytes:
        self.network.handed.append(("read", self.timeout))
        seconds, data = self.answers.pop(0) if self.answers else (math.inf, b"")
        self.network.clock.wait(seconds, self.timeout)
        return data

    def send(self, data) -> int:
        self.network.handed.append(("write", self.timeout))
        return len(data)

    def sendall(self, data) -> None:
        self.send(data)

    def setsockopt(self, *option):
        pass

    def fileno(self) -> int:
        return -1  # httpcore takes an idle connection without one as closed: never reused

    def getsockname(self):
        return ("127.0.0.1", 40000)

    getpeername = getsockname

    def close(self):
        pass


def is_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


class Resolver:
    """`socket.getaddrinfo`'s stand-in for names under .hung.test: each lookup waits, in its
    thread, until the test lets them all go (`answer`). Other names go to the real resolver
    (asked by a thread an earlier test left running)."""

    def __init__(self):
        self.real, self.let_go, self.failure = socket.getaddrinfo, threading.Event(), None

    def install(self, monkeypatch) -> "Resolver":
        monkeypatch.setattr("socket.getaddrinfo", self.getaddrinfo)
        return self

    def getaddrinfo(self, host, port, *args, **kwargs):
        if not is_hung(str(host)):
            return self.real(host, port, *args, **kwargs)
        self.let_go.wait()
        if self.failure:
            raise self.failure
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port))]

    def given_up_on(self, *hosts: str) -> None:
        """Each of `hosts` looked up (port 443) by a caller that stops waiting at once: each
        holds one of the deadline's lookups until `answer`."""
        from opscore.http_deadline import looked_up

        for host in hosts:
            try:
                looked_up(host, 443, 0)
            except TimeoutError:
                continue
            raise AssertionError(f"{host} was looked up at once: it was not held")

    def threads(self) -> list[threading.Thread]:
        """The lookups of names under .hung.test still running (each in a thread of its own,
        named by the deadline's lookup)."""
        named = [thread for thread in threading.enumerate() if thread.name.startswith("lookup ")]
        return [thread for thread in named if is_hung(thread.name)]

    def answer(self, failure: OSError | None = None) -> None:
        """Every lookup answered, or failed with `failure`, and its thread ended: from then on,
        every lookup is answered at once."""
        running, self.failure = self.threads(), failure
        self.let_go.set()
        for thread in running:
            thread.join()


def is_hung(host: str) -> bool:
    return host.endswith(".hung.test")
