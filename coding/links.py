"""Where a link a harness left in its worktree leads (coding/checks.py's look for links out),
read as every checkout of the tree reads it, not only as it resolves on this machine: the
change commits a link as its text, and the merged main checkout, a reviewer's or a deploy's
follows that text from wherever the tree lies there. A target resolved here alone let two
through: the tree's own absolute path on this machine, and a way up out of the tree and back
in through the folder it sits in here (`../tree/x`): inside here, out of the tree anywhere
else.
"""

import os
from collections import deque

HOPS = 40  # links one lookup follows before the kernel refuses it (ELOOP)


def leads_out(tree: str, link: str) -> bool:
    """Whether `link` (a path in `tree`) leads out of the tree in some checkout of it: its
    target read from the folder it sits in, the tree as the top of everything — an absolute
    target names a path of this machine, never one of the checkout's; a `..` past the top has
    left the tree, whatever follows; each link on the way followed the same way. A loop leads
    nowhere (the kernel refuses it in every checkout), so not out."""
    folder = os.path.relpath(os.path.dirname(link), tree)
    where = [] if folder == "." else folder.split(os.sep)
    ahead, hops = deque([os.path.basename(link)]), 0
    while ahead:
        part = ahead.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if not where:
                return True
            where.pop()
            continue
        here = os.path.join(tree, *where, part)
        if not os.path.islink(here):
            where.append(part)
            continue
        hops += 1
        if hops > HOPS:
            return False
        target = os.readlink(here)
        if os.path.isabs(target):
            return True
        ahead.extendleft(reversed(target.split("/")))
    return False
