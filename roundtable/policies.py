"""The roundtable's policies: how many conversations a day, and how far one may move a
relationship. Registered from RoundtableConfig.ready()."""

from pydantic import Field

from opscore.policies import PolicyValue


class RoundtablePolicy(PolicyValue):
    enabled: bool = True
    max_daily_conversations: int = Field(5, ge=0, le=1_000)


class RelationshipDriftPolicy(PolicyValue):
    enabled: bool = True
    max_drift: float = Field(0.03, ge=0.0, le=0.2)


POLICIES = {
    "roundtable_policy": RoundtablePolicy,
    "relationship_drift_policy": RelationshipDriftPolicy,
}
