"""The coding lane's heartbeat duty: a run waiting for review gives up its worktree.

Nothing after review needs the tree: the reviewer's diff, the approvals and the secret check
read the branch, a merge tests in a scratch tree of its own, a revision or a retry provisions
a fresh tree from the branch. So a run that may wait for days should not hold its tree, box
HOME and box output that long. But the set-aside (seven gits and an UPDATE, some 15 to 20 ms) is
not done on the run's own path: the driver leaves a run it brought to review as it is (its
review commit is on the branch already, so the person waiting gains nothing from it, and a
single-shot run's latency cannot afford it), and this duty sets its tree aside at the next
beat. `console.heartbeat` puts it in order.
"""

import math
import time

from coding.hardened_git import GitFailed
from coding.models import CodingRun
from coding.walks import WalkStopped
from coding.watch import unsaid
from coding.worktrees import set_aside

# At most this many trees a beat. Each set-aside is a transaction of its own (the duty is not
# one: console.heartbeat), holding its repository's lock and its run's row for its 15 to 20 ms:
# a tree gone from disk is never left named by a row the duty's failure rolled back. Ten a
# five-minute beat is 120 an hour, more than the drivers bring to review, and a backlog (after
# a pause or an outage) drains over the next beats.
TREES_A_BEAT = 10


def set_aside_review_trees(deadline: float = math.inf) -> dict:
    """The trees of the oldest runs waiting for review, at most TREES_A_BEAT of them, set
    aside (coding.worktrees.set_aside leaves a run that moved on since — sent back,
    cancelled — alone, under the repository's lock). Says which were, which git refused
    (said on the run, and tried again after every other waiting tree, so ten trees git keeps
    refusing do not hold up the rest), and how many trees still wait for a beat."""
    holding = CodingRun.objects.holding_review_trees()
    done, refused = [], {}
    for run in holding.select_related("repository").refused_last()[:TREES_A_BEAT]:
        if time.monotonic() > deadline:
            break
        try:
            if set_aside(run):
                done.append(run.id)
                if run.set_aside_refused_at:
                    CodingRun.objects.said_set_aside(run)
        except (GitFailed, WalkStopped, OSError) as stuck:  # that run's, not the beat's
            refused[str(run.id)] = unsaid(str(stuck))[:300]
            CodingRun.objects.said_set_aside_refused(run, refused[str(run.id)])
    return {"set_aside": done, "refused": refused, "left": holding.count()}
