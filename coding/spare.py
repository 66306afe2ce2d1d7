"""A box builder started before its box is known: the interpreter's start and the box
builder's imports (about two thirds of a box start's price) overlap with the pass before's
harness (or a driver's first run's provisioning) rather than following them.

A spare is the same launch run_boxed starts (coding/box.py's jail_command, the same code
object, its own session), waiting for its spec on a socket only the driver holds the other
end of, rather than finding it in its environment. Until the spec comes it has no box, no
command and nothing of a run: its environment is the box builder's code alone and its
working directory `/`. Its first box's namespaces are made and its init forked while it
waits (coding/jail.py's standing_by), so neither is waited for once a run is handed over;
that init holds no root, no command and none of the chained slot's pipes, only the pipe its
spec comes on from the spare. Once the spec has come it moves into the worktree and says so, so
that when the driver records its process group (which a cancel or an adopting driver kills
only if one of the group works in the run's worktree) the group already works there. Then
it builds the box exactly as a launch started with its spec does, while the driver looks at
the worktree's surroundings (the escape look's "before"); the box's command, its process
forked and confined meanwhile, is exec'd on the driver's go, a byte on the same socket,
with /dev/null as its stdin.

A pass's tests are chained in the same launch (coding/chain.py): their output pipe and go
pipe are made when the spare starts and handed to it then; a spec with no tests to chain
tells the spare to close them.

A driver process keeps one spare waiting (STANDING): the next is started as soon as a pass's
harness has been told to start (while it runs, the driver has nothing else to do), and a spare
a turn did not use waits for the next run rather than being killed, so no pass waits for an
interpreter to start and an idle or held-back queue starts none. One waiting spare holds what
any spare holds before its spec: nothing of a run. A spare that was launched, handed its
chained slot, or has died is never kept: it is killed with its session.
"""

import contextlib
import os
import socket
import subprocess
from dataclasses import dataclass, field

from coding.box import jail_code, jail_command
from coding.reaping import Reaped
from coding.sandbox import confinement_missing
from coding.uids import NoFreeUid, Slot, claim
from coding.watch import GRACE, kill_process_group

ACK_SECONDS = 30.0  # a spare that does not say it moved in by then is no launch


@dataclass(eq=False)
class Spare:
    process: subprocess.Popen
    channel: socket.socket  # the driver's end of the spec's socket
    slot: dict = field(default_factory=dict)  # the chained box's pipe ends, by use
    claim: Slot | None = None  # its uid of the pool (coding/uids.py), held by its process
    taken: bool = False
    handed: bool = False  # the chained check holds the slot's driver ends (its to close)

    def ends(self) -> tuple[int, int, int, int]:
        """(output read, output write, go read, go write) for the chained check."""
        self.handed, s = True, self.slot
        return s["out_read"], s["out_write"], s["go_read"], s["go_write"]

    def launch(self, spec: dict) -> subprocess.Popen:
        """Hand the spare its spec and wait until it works in the worktree; the launch, as
        Popen would have returned it. A spec with no check chained closes the slot (the
        spare its ends, the driver its own); the ends a chained check uses are closed by
        run_boxed once the launch is started, as it does for a launch it starts itself."""
        from coding.jail import encode_spec

        self.taken = True
        mine, theirs = (self.slot["out_read"], self.slot["go_write"]), self.child_ends()
        unused = not spec.get("then")
        spec = spec | {"close": list(theirs) if unused else []}
        data = bytes.fromhex(encode_spec(spec))
        try:
            self.channel.sendall(len(data).to_bytes(8, "big") + data)
            self.channel.settimeout(ACK_SECONDS)
            self.channel.recv(1)  # b"" when it died instead: pump sees it end
        except OSError:
            pass  # it is gone: the launch's end says how
        finally:
            for fd in (*mine, *theirs) if unused else ():
                os.close(fd)
        return self.process

    def go(self, ready=None) -> None:
        """`ready()` (the driver's look around the worktree) while the box is built, then the
        byte that starts its command; if `ready` fails, the socket closes unwritten and the
        command never starts."""
        try:
            if ready is not None:
                ready()
            with contextlib.suppress(OSError):  # gone already: pump sees it end
                self.channel.sendall(b"g")
        finally:
            self.channel.close()

    def child_ends(self) -> tuple[int, int]:
        return self.slot["out_write"], self.slot["go_read"]


def start_spare() -> Spare | None:
    """A box builder waiting for its spec; None where the box cannot be built here (an
    unconfined run starts no box builder at all)."""
    if confinement_missing():
        return None
    try:
        claimed = claim()  # the driver's uid (coding/uids.py): the spare's process holds it too
    except (NoFreeUid, OSError):
        return None  # the pass's own launch claims one, or says why it cannot
    ours, theirs = socket.socketpair()
    out_read, out_write = os.pipe()
    go_read, go_write = os.pipe()
    try:
        process = Reaped(
            jail_command(),
            cwd="/",
            env={"OPS_BOX_JAIL": jail_code()},
            stdin=theirs.fileno(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a cancel kills it whole
            pass_fds=(out_write, go_read, *([claimed.fd] if claimed else [])),
        )
    except OSError:
        for fd in (out_read, out_write, go_read, go_write):
            os.close(fd)
        ours.close()
        return None
    finally:
        theirs.close()
    slot = {"out_read": out_read, "out_write": out_write, "go_read": go_read}
    return Spare(process, ours, slot | {"go_write": go_write}, claim=claimed)


# The spare this driver process keeps waiting for its next pass: at most one.
STANDING: dict[str, Spare] = {}


def take_spare() -> Spare | None:
    """The waiting spare, now the caller's (it launches or keeps it); None if there is none
    or it has died (killed by hand, say): then it is discarded here."""
    spare = STANDING.pop("spare", None)
    if spare is not None and spare.process.poll() is not None:
        discard(spare)
        return None
    return spare


def keep(spare: Spare | None) -> None:
    """A spare the caller is done with: one never launched waits for the next pass (unless
    one waits already); a launched one is discarded as discard() says."""
    unused = spare is not None and not (spare.taken or spare.handed)
    if unused and "spare" not in STANDING and spare.process.poll() is None:
        STANDING["spare"] = spare
    else:
        discard(spare)


def stand_by() -> None:
    """The next pass's spare started, if none waits: while a harness runs. One that cannot
    start (no fds left, say) is no failure of this pass: the next starts its own."""
    if "spare" in STANDING:
        return
    with contextlib.suppress(OSError):
        if (spare := start_spare()) is not None:
            STANDING["spare"] = spare


def discard(spare: Spare | None) -> None:
    """A spare not launched: killed, its ends closed. A launched one is the caller's, but if
    it was never told go its socket closes here, and its box ends without its command."""
    if spare is not None and spare.taken:
        spare.channel.close()
    if spare is None or spare.taken:
        return
    spare.taken = True
    kill_process_group(spare.process.pid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        spare.process.wait(timeout=GRACE)
    spare.channel.close()
    spare.process.stdout.close()
    mine = () if spare.handed else (spare.slot["out_read"], spare.slot["go_write"])
    for fd in (*mine, *spare.child_ends()):
        os.close(fd)
