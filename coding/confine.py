"""What confines a box's command: applied by its own process to itself once the box's root is
built and before the driver's go (coding/jail.py's become) — an unprivileged uid and gid when
Opscore is root (else uid 0 of the box's user namespace, kept from regaining capabilities on
exec), rlimits, no new privileges, Landlock, and a seccomp filter closing the kernel's keyrings.

Part of the box builder: the driver compiles it with jail.py and hands them to the box's
isolated interpreter as code objects (coding/box.py), so it imports only the standard library
and nothing of Opscore's checkout is ever on the box's path.

Landlock goes through a small ctypes wrapper rather than the `landlock` PyPI package: that
package is an alpha (1.0.0.dev5), covers filesystem rules only (no TCP rules from ABI 4, no
signal/abstract-socket scoping from ABI 6) and its errno check can raise on a successful call.
"""

import ctypes
import os
import resource

PR_SET_NO_NEW_PRIVS, PR_SET_SECUREBITS = 38, 28
SECBIT_NOROOT_LOCKED = 0b11  # uid 0 in a user namespace gets no capabilities on exec

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def confine(spec: dict) -> None:
    """This process as `spec`'s command runs: unprivileged, limited, Landlocked, no keyrings."""
    if spec.get("uid") is not None:
        os.setgroups([])
        os.setgid(spec["gid"])
        os.setuid(spec["uid"])
    else:  # uid 0 of our own user namespace: keep it from regaining capabilities on exec
        check(libc.prctl(PR_SET_SECUREBITS, SECBIT_NOROOT_LOCKED, 0, 0, 0), "securebits")
    limit(spec["limits"])
    if spec.get("landlock"):
        landlock(spec["read"], spec["write"], tuple(spec.get("connect_ports", ())))
    close_keyrings()


def limit(limits: dict) -> None:
    for name, value in limits.items():
        kind = getattr(resource, f"RLIMIT_{name.upper()}")
        resource.setrlimit(kind, (value, value))


# ---- Landlock (include/uapi/linux/landlock.h) ----
LL_CREATE, LL_ADD_RULE, LL_RESTRICT = 444, 445, 446
READ = 1 | 4 | 8  # execute, read a file, read a directory
WRITE = 2 | 16 | 32 | 64 | 128 | 256 | 512 | 1024 | 2048 | 4096  # write, remove, make *
ABI_EXTRA = {2: 8192, 3: 16384, 5: 32768}  # refer, truncate, ioctl on devices


class RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]


class NetPort(ctypes.Structure):
    _fields_ = [("allowed", ctypes.c_uint64), ("port", ctypes.c_uint64)]


RULE_NET_PORT, CONNECT_TCP = 2, 2


def landlock_abi() -> int:
    """0 when the kernel has no Landlock (or it is disabled at boot)."""
    result = libc.syscall(LL_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(result, 0)


def landlock(read: list[str], write: list[str], connect: tuple = ()) -> int:
    """Restrict this process (and what it execs) to reading `read` and writing `write`; no
    TCP bind, and TCP connect only to the `connect` ports (ABI 4+: the egress proxy on the
    box's own loopback); no signals or abstract sockets outside the box (ABI 6+)."""
    abi = landlock_abi()
    if abi < 1:
        raise OSError("Landlock is not available in this kernel")
    every = READ | WRITE | sum(bit for level, bit in ABI_EXTRA.items() if abi >= level)
    attr = RulesetAttr(every, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = check(libc.syscall(LL_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), 0), "ll")
    for paths, allowed in ((read, READ), (write, every)):
        for path in paths:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            rule = PathBeneath(
                allowed if os.path.isdir(path) else allowed & (1 | 2 | 4 | 16384 | 32768), fd
            )
            check(libc.syscall(LL_ADD_RULE, ruleset, 1, ctypes.byref(rule), 0), f"rule {path}")
            os.close(fd)
    for port in connect if abi >= 4 else ():
        rule = NetPort(CONNECT_TCP, port)
        check(libc.syscall(LL_ADD_RULE, ruleset, RULE_NET_PORT, ctypes.byref(rule), 0), "port")
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    check(libc.syscall(LL_RESTRICT, ruleset, 0), "landlock_restrict_self")
    os.close(ruleset)
    return abi


# ---- seccomp: the kernel's keyrings and new user namespaces are closed to the command ----
# A key in the sandbox uid's user keyring outlives the box that put it there, for the next
# box (the pass's tests, another run) to find; Docker's default profile closes them the same
# way. A user namespace of its own would hand the command every capability over the parts of
# the kernel that trust them (netfilter, mounts of its own), the door of many a kernel exploit:
# unshare and clone asking for CLONE_NEWUSER are refused, and clone3, whose flags sit behind a
# pointer no filter can read, answers ENOSYS so that libc falls back to clone (as Docker does).
# Per audit arch: (add_key, request_key, keyctl), (unshare, clone), clone3 (x86_64's x32 too).
X32 = 0x40000000
SYSCALLS = {
    0xC000003E: ((248, 249, 250, X32 | 248, X32 | 249, X32 | 250), (272, 56, X32 | 272, X32 | 56)),
    0x40000003: ((286, 287, 288), (310, 120)),  # i386
    0xC00000B7: ((217, 218, 219), (97, 220)),  # aarch64
    0x40000028: ((309, 310, 311), (337, 120)),  # arm
}
CLONE3 = {0xC000003E: (435, X32 | 435), 0x40000003: (435,), 0xC00000B7: (435,), 0x40000028: (435,)}
CLONE_NEWUSER = 0x10000000
LOAD, JUMP_EQ, JUMP_SET, RETURN = 0x20, 0x15, 0x45, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, JMP|JSET|K
ALLOW, REFUSE = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
NO_SUCH_CALL = 0x00050000 | 38  # SECCOMP_RET_ERRNO | ENOSYS
ARCH, NR, FIRST_ARG = 4, 0, 16  # offsets in struct seccomp_data (the argument's low word)
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


def arch_block(arch: int, keys: tuple, namespacing: tuple, clone3: tuple) -> list[tuple]:
    """One arch's part: its refusals, or (another arch) a jump over all of it to the next."""
    body = [(LOAD, 0, 0, NR)]
    checks = [(nr, "refuse") for nr in keys] + [(nr, "nosys") for nr in clone3]
    checks += [(nr, "flags") for nr in namespacing]
    targets = {"allow": len(checks), "refuse": len(checks) + 1, "nosys": len(checks) + 2}
    targets["flags"] = len(checks) + 3
    for n, (nr, outcome) in enumerate(checks):
        body.append((JUMP_EQ, targets[outcome] - n - 1, 0, nr))
    body += [(RETURN, 0, 0, ALLOW), (RETURN, 0, 0, REFUSE), (RETURN, 0, 0, NO_SUCH_CALL)]
    body += [(LOAD, 0, 0, FIRST_ARG), (JUMP_SET, 0, 1, CLONE_NEWUSER)]
    body += [(RETURN, 0, 0, REFUSE), (RETURN, 0, 0, ALLOW)]
    return [(LOAD, 0, 0, ARCH), (JUMP_EQ, 0, len(body), arch), *body]


def key_filter() -> list[tuple]:
    """For each arch: its keyring calls refused, a new user namespace refused, clone3 ENOSYS,
    anything else allowed; an arch not listed allowed."""
    program = []
    for arch, (keys, namespacing) in SYSCALLS.items():
        program += arch_block(arch, keys, namespacing, CLONE3[arch])
    return [*program, (RETURN, 0, 0, ALLOW)]


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8)]
    _fields_ += [("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def close_keyrings() -> None:
    program = key_filter()
    filters = (SockFilter * len(program))(*[SockFilter(*step) for step in program])
    fprog = SockFprog(len(program), filters)
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")
