"""What is news: the events a standing order's precondition and a lane's quiet look (what
changed since it last looked) read as company activity. Each once kept its own list of
bookkeeping prefixes and they drifted (only one ignored the agent roster, only one an
operator's edits in the admin); this is the one list both use.

Not news: the system's own bookkeeping (standing-order runs, policy versions, overrides,
bootstrap phases, heartbeats, workers), the roster changing (an agent added, enabled or
disabled: configuration) and an operator's edit in the admin. News still: an outside runtime
failing (`agent.runtime_failing` is the breaker's alert, not the roster) and anything else."""

from django.db.models import Q

from opscore.admin_audit import made_in_the_admin

BOOKKEEPING = (
    "standing_order.",
    "policy.",
    "override.",
    "bootstrap.",
    "heartbeat",
    "worker.",
    "agent.added",
    "agent.enabled",
    "agent.disabled",
)


def not_news() -> Q:
    """Events that are bookkeeping or configuration, for `.exclude()`."""
    bookkeeping = Q()
    for prefix in BOOKKEEPING:
        bookkeeping |= Q(kind__startswith=prefix)
    return bookkeeping | made_in_the_admin()
