"""Cap gates: per step kind, may this much more work enter today?

A gate returns None to let the work in, or the reason it is refused. Gates run inside the intake's
transaction after `lock_gate`, so two submissions racing for the last slot are serialised and
the quota is never overshot.
"""

from collections.abc import Callable

from django.db import connection

from missions.models import Step
from opscore.db import AdvisoryLock
from opscore.models import Policy
from opscore.registry import Registry

Gate = Callable[[int], str | None]
GATES: Registry = Registry("cap gate")


def lock_gate(kind: str) -> None:
    """Serialise quota checks for one kind until the transaction ends."""
    with connection.cursor() as cursor:
        key = f"{AdvisoryLock.GATE_PREFIX}{kind}"
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])


def used_today(kind: str) -> int:
    return Step.objects.of_kind(kind).created_today().counting_toward_quota().count()


def _quota_reason(label: str, used: int, wanted: int, limit: int) -> str | None:
    if used >= limit:
        return f"{label}: quota full ({used}/{limit})"
    if used + wanted > limit:
        return f"{label}: {wanted} more would exceed the quota ({used}/{limit} used)"
    return None


def content_gate(wanted: int) -> str | None:
    policy = Policy.objects.value("content_policy")
    if not policy.enabled:
        return "write_content: content_policy is disabled"
    return _quota_reason(
        "write_content", used_today("write_content"), wanted, policy.max_drafts_per_day
    )


def tweet_gate(wanted: int) -> str | None:
    limit = Policy.objects.value("x_daily_quota").limit
    return _quota_reason("post_tweet", used_today("post_tweet"), wanted, limit)


def deploy_gate(wanted: int) -> str | None:
    policy = Policy.objects.value("deploy_policy")
    if not policy.enabled:
        return "deploy: deploy_policy is disabled"
    return _quota_reason("deploy", used_today("deploy"), wanted, policy.max_per_day)


BUILTIN = {"write_content": content_gate, "post_tweet": tweet_gate, "deploy": deploy_gate}


def first_refusal(kinds: list[str]) -> str | None:
    """Lock and check every gated kind in a fixed order (so concurrent intakes never deadlock)."""
    for kind in sorted(set(kinds) & set(GATES)):
        lock_gate(kind)
        reason = GATES[kind](kinds.count(kind))
        if reason:
            return reason
    return None
