"""The proactive lane's policies: budgets against spam, and where a post goes. Registered from
OpportunitiesConfig.ready()."""

from typing import Literal

from pydantic import Field

from opscore.policies import PolicyValue

PublishingChannel = Literal["x", "bluesky", "mastodon", "post_webhook"]


class PublishingPolicy(PolicyValue):
    """Where a post goes: the step's payload.channel when it is allowed here, else its agent's
    channel, else the default. Each channel's first real post waits for a human."""

    default_channel: PublishingChannel = "x"
    agents: dict[str, PublishingChannel] = Field(default_factory=dict)
    allowed_channels: list[PublishingChannel] = ["x", "bluesky", "mastodon", "post_webhook"]


class OpportunityPolicy(PolicyValue):
    """Budgets against proactive spam, enforced for every source: over them an opportunity is
    kept as an idea with the reason, never dropped and never silently admitted."""

    max_new_per_scout_per_day: int = Field(3, ge=0, le=100)
    max_urgent_per_day: int = Field(1, ge=0, le=100)  # urgency 5, unless impact is 5 too
    max_converted_per_day: int = Field(3, ge=0, le=100)
    idle_max_tokens: int = Field(500, ge=100, le=4000)  # one idle-cognition call's cap
    idle_max_ideas_per_day: int = Field(3, ge=0, le=3)  # the seed says at most three


POLICIES = {
    "publishing_policy": PublishingPolicy,
    "opportunity_policy": OpportunityPolicy,
}
