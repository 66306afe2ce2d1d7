"""The sandbox uid's user keyring, for the hostile harness to plant a key in and for a test
command to look for it: the kernel's keyrings are not namespaced by the box's namespaces, so
a key there would outlive the pass. Run as a script it prints what it finds."""

import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
ADD_KEY, KEYCTL = {"x86_64": (248, 250), "aarch64": (217, 219)}[os.uname().machine]
USER_KEYRING, SEARCH, READ, SET_TIMEOUT = -4, 10, 11, 15
NAME = b"opscore-planted"


def plant(text: str) -> int:
    data = text.encode()
    key = libc.syscall(ADD_KEY, b"user", NAME, data, len(data), USER_KEYRING)
    if key < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"add_key: {os.strerror(error)}")
    libc.syscall(KEYCTL, SET_TIMEOUT, key, 120)  # gone in two minutes whatever happens
    return key


def find() -> str:
    key = libc.syscall(KEYCTL, SEARCH, USER_KEYRING, b"user", NAME, 0)
    if key < 0:
        return f"no key: {os.strerror(ctypes.get_errno())}"
    held = ctypes.create_string_buffer(256)
    size = libc.syscall(KEYCTL, READ, key, held, 256)
    if size < 0:
        return f"key {key}, unreadable: {os.strerror(ctypes.get_errno())}"
    return held.raw[:size].decode(errors="replace")


if __name__ == "__main__":
    print(find())
