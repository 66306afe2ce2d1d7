"""The step kinds Opscore ships. A proposal naming a kind nobody registered is refused at the
intake; `MissionsConfig.ready()` registers these, a plug-in module may add its own."""

from django.db.models import Q

from opscore.registry import STEP_KINDS, PayloadField, StepKind
from opscore.registry import is_known_kind as is_known
from opscore.registry import known_kind_names as known_names

TOPIC = PayloadField("topic", "Topic (the title if empty)")
BUILTIN = [
    StepKind("analyze", "LLM analysis that stores an artifact", fields=(TOPIC,)),
    StepKind("write_content", "LLM long-form writing that stores an artifact", fields=(TOPIC,)),
    StepKind("draft_tweet", "LLM tweet draft that stores an artifact", fields=(TOPIC,)),
    StepKind(
        "crawl",
        "Fetch a public URL and keep its main text",
        fields=(PayloadField("url", "URL to read", required=True, type="url", max_length=2000),),
    ),
    StepKind(
        "post_tweet",
        "Publish through the outbox to the channel the policy picks",
        idempotent=False,
        # Only Opscore's executor posts: through the outbox, the channel's holds and a person's
        # approval of the words. A runtime that claimed it could post anything, or nothing.
        claimable_outside=False,
        fields=(
            PayloadField(
                "text", "Text to post", type="textarea", max_length=3000, or_from="draft_tweet"
            ),
            PayloadField("channel", "Channel (x, bluesky, mastodon, post_webhook)", max_length=20),
        ),
    ),
    StepKind(
        "deploy",
        "Deploy a change",
        idempotent=False,
        auto_approvable=False,
        fields=(PayloadField("target", "Target (default if empty)", max_length=100),),
    ),
    StepKind("noop", "Does nothing and succeeds; proves the machinery"),
]


def internal_kinds() -> list[str]:
    """Kinds only Opscore's own executor may run, whoever the step's agent is (the coding lane's
    dev.code_change): Opscore's workers claim them even for an external agent, and no outside
    runtime ever does."""
    return [k.name for k in STEP_KINDS.values() if not k.claimable_outside]


def inside_keys() -> dict[str, str]:
    """Outside-claimable kinds → the payload key that makes one of their steps Opscore's own
    all the same (a `deploy` naming a coding run: that run's gated deploy)."""
    return {
        k.name: k.inside_when for k in STEP_KINDS.values() if k.claimable_outside and k.inside_when
    }


def internal_markers() -> list[str]:
    """What the claim functions skip for an outside runtime and Opscore's workers take for any
    agent (their p_internal, read by missions/sql/parts/runs_inside.v1.sql): each internal
    kind's name, and `kind?key` for a step of that kind whose payload has that key."""
    return internal_kinds() + [f"{kind}?{key}" for kind, key in inside_keys().items()]


def runs_inside(kind: str, payload) -> bool:
    """Whether only Opscore's own executor runs this step, whoever its agent is: the rule the
    claim functions apply (`internal_markers`), for a step in hand."""
    if kind in internal_kinds():
        return True
    key = inside_keys().get(kind)
    return bool(key) and isinstance(payload, dict) and key in payload


def runs_inside_q() -> Q:
    """`runs_inside` as a filter on steps."""
    rule = Q(kind__in=internal_kinds())
    for kind, key in inside_keys().items():
        rule |= Q(kind=kind, payload__has_key=key)
    return rule


__all__ = [
    "BUILTIN",
    "PayloadField",
    "StepKind",
    "internal_kinds",
    "internal_markers",
    "is_known",
    "known_names",
    "runs_inside",
    "runs_inside_q",
]
