"""The execution lane's heartbeat duties. Each takes its deadline and returns its counts;
`console.heartbeat` puts them in order."""

from missions import loop
from missions.mission_control import time_out_missions
from missions.models import Reaction, ReactionStatus
from missions.recovery import reap_expired_leases, requeue_cleared_blockers


def recover_stale_steps(deadline: float) -> dict:
    return reap_expired_leases() | {
        "unblocked": requeue_cleared_blockers(),
        "timed_out": time_out_missions(),
    }


def evaluate_triggers(deadline: float) -> dict:
    return loop.evaluate_triggers(deadline)


def drop_triggers(why: str) -> dict:
    return loop.drop_triggers(why)


def process_reactions(deadline: float) -> dict:
    return loop.match_reactions() | loop.process_reactions(deadline)


def drop_reactions(why: str) -> dict:
    """The reactions lane paused in drop mode: new events are matched as usual, and every
    queued reaction is skipped with the pause's reason instead of becoming a proposal."""
    matched = loop.match_reactions()
    dropped = Reaction.objects.filter(status=ReactionStatus.QUEUED).update(
        status=ReactionStatus.SKIPPED, reason=f"dropped: {why}"[:300]
    )
    return matched | {"dropped": dropped}
