"""The shape of a proposal as it arrives from any source, checked before anything is written."""

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from missions.step_kinds import is_known, known_names
from missions.text import strip_invisible
from opscore.inputs import FieldErrors, InputRefused, check_clean
from opscore.redaction import scrub
from opscore.registry import STEP_KINDS, PayloadField
from opscore.web_urls import UnusableURL, usable

MAX_STEPS = 20
WEB_URL = "an http:// or https:// address"


class ProposalInvalid(FieldErrors):
    """Bad input: nothing was written. `errors` maps a field path to its messages."""


MAX_DELAY_SECONDS = 7 * 24 * 3600  # the longest a step waits before it is due


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    payload: dict = Field(default_factory=dict)
    agent: str | None = Field(default=None, max_length=64)
    # Strict: read leniently, "0" and 0.0 named step 0, and true step 1 (or the row with id 1).
    depends_on: list[StrictInt] = Field(default_factory=list)
    # Steps already in the ledger this one waits for (agentbus enqueue-job --depends-on).
    after_steps: list[StrictInt] = Field(default_factory=list, max_length=20)
    priority: int = Field(default=100, ge=1, le=1000, strict=True)
    max_attempts: int = Field(default=3, ge=1, le=10, strict=True)
    delay_seconds: int = Field(default=0, ge=0, le=MAX_DELAY_SECONDS, strict=True)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind):
        if not is_known(kind):
            raise ValueError(f"unknown step kind {kind!r}; known: {', '.join(known_names())}")
        return kind


def visible_only(text: str) -> str:
    """A field's text as people will read it and tools act on it: a bidi override (U+202E)
    reads one way to people and another to tools, an escape retitles a terminal that prints
    it (a vault file `cat`), and tag characters carry words no one sees to a model. The field
    validator of every draft that keeps words from outside (proposals, ideas, opportunities,
    memory candidates)."""
    cleaned = strip_invisible(text).strip()
    if not cleaned and text:
        raise ValueError("nothing left once invisible characters are removed")
    return cleaned


class ProposalDraft(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    steps: list[StepSpec] = Field(min_length=1, max_length=MAX_STEPS)
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=200)
    goal: int | None = Field(default=None, ge=1, strict=True)  # the active goal it serves

    _no_invisible_characters = field_validator("title", "description")(visible_only)

    @classmethod
    def parse(cls, data) -> "ProposalDraft":
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise ProposalInvalid({"body": ["expected a JSON object"]})
        # A known secret (the operator's token, a provider's key) pasted into a task or echoed
        # by a model's draft is masked before anything reads it: kept, it reached the approvals
        # card, the API's answer and the step's prompt. As the agent bus does for a runtime.
        data = scrub(data)
        try:
            check_clean(data)
        except InputRefused as refused:
            raise ProposalInvalid({refused.field or "body": [refused.message]}) from None
        try:
            draft = cls.model_validate(data)
        except ValidationError as error:
            raise ProposalInvalid(field_errors(error)) from None
        errors = dependency_errors(draft.steps) | payload_errors(draft.steps)
        if errors:
            raise ProposalInvalid(errors)
        return draft


def dependency_errors(steps: list[StepSpec]) -> dict[str, list[str]]:
    """A step depends only on earlier ones (no cycles), each named once (a second link would
    break the ledger's unique dependency mid-intake), said under its own field's path."""
    errors: dict[str, list[str]] = {}
    for index, step in enumerate(steps):
        for target in step.depends_on:
            if not 0 <= target < index:
                earlier = f"0..{index - 1}" if index else f"none comes before step {index}"
                message = f"{target} must name an earlier step ({earlier})"
                errors.setdefault(f"steps.{index}.depends_on", []).append(message)
        for field in ("depends_on", "after_steps"):
            named = getattr(step, field)
            for twice in sorted({i for i in named if named.count(i) > 1}):
                errors.setdefault(f"steps.{index}.{field}", []).append(f"{twice} is named twice")
    return errors


def payload_errors(steps: list[StepSpec]) -> dict[str, list[str]]:
    """What each step's kind needs from its payload (the registry's fields), by field path."""
    errors: dict[str, list[str]] = {}
    for index, step in enumerate(steps):
        for spec in STEP_KINDS[step.kind].fields:
            if message := field_error(spec, step, steps):
                errors[f"steps.{index}.payload.{spec.name}"] = [message]
        checker = STEP_KINDS[step.kind].check_payload
        for name, messages in (checker(step.payload) if checker else {}).items():
            errors[f"steps.{index}.payload.{name}"] = messages
    return errors


def field_error(spec: PayloadField, step: StepSpec, steps: list[StepSpec]) -> str | None:
    value = step.payload.get(spec.name)
    if value in (None, ""):
        if spec.required or (spec.or_from and not fed_by(step, spec.or_from, steps)):
            instead = f", or a {spec.or_from} step it depends on" if spec.or_from else ""
            return f"{step.kind} needs {spec.label.lower()}{instead}"
        return None
    if not isinstance(value, str) or len(value) > spec.max_length:
        return f"a string of at most {spec.max_length} characters"
    if spec.type == "url":
        return web_url_error(value)
    return None


def fed_by(step: StepSpec, kind: str, steps: list[StepSpec]) -> bool:
    """Whether a step this one waits for may supply the field: one of this proposal's steps of
    that kind, or a step already in the ledger (its executor checks the kind when it runs)."""
    return bool(step.after_steps) or any(steps[i].kind == kind for i in step.depends_on)


def web_url_error(value: str) -> str | None:
    """Why `value` is no web address to fetch, or None: a port out of range is refused here,
    where the URL is taken, not by the crawl that could never connect to it."""
    try:
        parts = usable(value)
    except UnusableURL as problem:
        return f"{WEB_URL} ({problem})"
    return None if parts.scheme in ("http", "https") and parts.netloc else WEB_URL


def field_errors(error: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "body"
        message = item["msg"].removeprefix("Value error, ")
        errors.setdefault(where, []).append(message)
    return errors
