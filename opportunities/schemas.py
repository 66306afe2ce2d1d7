"""What an opportunity and an idea must answer, checked at the boundary for every source.

An opportunity that cannot say what, why now, with what evidence, owned by whom and what the
smallest next step is, is refused with the missing fields named; it may be kept as an idea."""

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from memory.evidence import EvidenceInvalid, check_evidence
from missions.models import Goal
from missions.schemas import field_errors, visible_only
from opscore.inputs import FieldErrors, InputRefused, check_clean
from opscore.models import Agent
from opscore.redaction import scrub

REQUIRED_ANSWERS = ["title", "why_now", "evidence", "owner_candidate", "suggested_next_step"]


class OpportunityInvalid(FieldErrors):
    """An opportunity or idea missing an answer, or naming rows that do not exist."""


class IdeaDraft(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    source_agent: str = Field(min_length=1, max_length=64)
    theme: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=5000)
    evidence: list = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list, max_length=10)
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=200)

    _no_invisible_characters = field_validator("theme", "title", "body")(visible_only)


class OpportunityDraft(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    source_agent: str = Field(min_length=1, max_length=64)
    theme: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=200)
    why_now: str = Field(min_length=1, max_length=5000)
    evidence: list = Field(min_length=1)
    impact: int = Field(ge=1, le=5, strict=True)
    confidence: int = Field(ge=1, le=5, strict=True)
    urgency: int = Field(ge=1, le=5, strict=True)
    reversibility: str = Field(pattern="^(high|medium|low)$")
    owner_candidate: str = Field(min_length=1, max_length=64)
    suggested_next_step: str = Field(min_length=1, max_length=2000)
    cost_of_doing_nothing: str = Field(default="", max_length=2000)
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=200)
    goal: int | None = Field(default=None, ge=1, strict=True)  # the active goal it would serve

    _no_invisible_characters = field_validator(
        "theme", "title", "why_now", "suggested_next_step", "cost_of_doing_nothing"
    )(visible_only)

    def fields(self) -> dict:
        data = self.model_dump(exclude={"source_agent", "owner_candidate", "goal"})
        return data | {
            "source_agent_id": self.source_agent,
            "owner_candidate_id": self.owner_candidate,
            "goal_id": self.goal,
        }


def missing_answers(data: dict) -> dict[str, list[str]]:
    return {
        name: ["required: an opportunity must answer it (or keep this as an idea)"]
        for name in REQUIRED_ANSWERS
        if data.get(name) in (None, "", [])
    }


def parse(model: type[BaseModel], data) -> BaseModel:
    if not isinstance(data, dict):
        raise OpportunityInvalid({"body": ["expected a JSON object"]})
    # A known secret (the operator's token, a provider's key) a scout's model echoed or a
    # runtime quoted is masked before the row is written: kept, the board, the API and the
    # admin showed it. As the single intake does for a proposal.
    data = scrub(data)
    missing = missing_answers(data) if model is OpportunityDraft else {}
    if missing:
        raise OpportunityInvalid(missing)
    try:
        check_clean(data)
        draft = model.model_validate(data)
        draft.evidence = check_evidence(draft.evidence)
    except InputRefused as refused:
        raise OpportunityInvalid(refused.errors) from None
    except ValidationError as error:
        raise OpportunityInvalid(field_errors(error)) from None
    except EvidenceInvalid as invalid:
        raise OpportunityInvalid(invalid.errors) from None
    agents = {draft.source_agent, getattr(draft, "owner_candidate", draft.source_agent)}
    known = set(Agent.objects.filter(slug__in=agents).values_list("slug", flat=True))
    if agents - known:
        raise OpportunityInvalid({"agent": [f"unknown agent(s) {sorted(agents - known)}"]})
    goal = getattr(draft, "goal", None)
    if goal is not None and not Goal.objects.running().filter(pk=goal).exists():
        raise OpportunityInvalid({"goal": [f"no active goal {goal} with its deadline ahead"]})
    return draft
