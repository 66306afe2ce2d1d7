"""A box with egress (coding/egress.py): its init brings the box's own loopback up and forwards
every connection to 127.0.0.1:3128 there to the driver's proxy socket, whose folder the box
binds read-only; Landlock lets the command connect to that port only (coding/confine.py).
Part of the box builder, shipped with jail.py as a code object (coding/box.py): standard
library only, and what only forwarding needs (socket, threading, fcntl, contextlib, struct)
is imported by import_egress, before the pivot and only for a run with egress — every box
start pays for its imports twice a pass (harness, tests), and tests/coding counts them.
"""

EGRESS_MODULES = ("contextlib", "fcntl", "socket", "threading")


def import_egress() -> None:
    """The modules forwarding needs, imported by init before the pivot (the interpreter's
    files are gone after it) and only for a run with egress."""
    global contextlib, fcntl, socket, struct, threading
    import contextlib
    import fcntl
    import socket
    import struct
    import threading


SIOCSIFFLAGS, LOOPBACK_UP = 0x8914, 0x1 | 0x8 | 0x40  # IFF_UP | IFF_LOOPBACK | IFF_RUNNING


def egress_listener(egress: dict | None):
    """Bring the box's own loopback up and listen on it (before the command starts, so its
    first connection finds the door); None when the run has no egress."""
    if not egress:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        fcntl.ioctl(probe.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", LOOPBACK_UP))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", egress["port"]))
    listener.listen(64)
    return listener


def start_forwarding(listener, path: str) -> None:
    """Init's thread, started once the command's process is forked (which has none)."""
    threading.Thread(target=forward, args=(listener, path), daemon=True).start()


def forward(listener, path: str) -> None:
    """Every connection to the box's proxy port goes to the driver's socket."""
    while True:
        client, _ = listener.accept()
        threading.Thread(target=relay, args=(client, path), daemon=True).start()


def relay(client, path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(path)
    except OSError:
        client.close()
        return
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
    pipe(client, upstream)


def pipe(source, sink) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
