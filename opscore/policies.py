"""Policies: the registry of every known policy key's schema, and validating a value against it.

A policy value is JSON an operator edits live; each key has a pydantic model so a typo or a wrong
type is refused with a message that names the field, in the admin, the CLI and the API alike.
Each app registers the keys it owns (`SCHEMAS`, from its AppConfig.ready(); a lane's schemas live
in its own policies.py), so the default of a key is known once the apps are ready — as for every
other reader of a policy (bootstrap, migrations, the admin).
"""

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opscore.inputs import InputRefused, check_clean
from opscore.policy_names import StepKinds, names_on_file
from opscore.registry import Registry
from opscore.registry import known_kind_names as known_names


class PolicyError(ValueError):
    """A policy value that does not fit its key's schema (or an unknown key)."""


class PolicyValue(BaseModel):
    # allow_inf_nan: jsonb has no Infinity, so such a value would fail only when saved
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class WorkerSwitches(PolicyValue):
    """Per step kind: may workers run it? The circuit breaker turns a kind off here."""

    kinds: StepKinds(dict[str, bool]) = Field(
        default_factory=lambda: dict.fromkeys(known_names(), True)
    )

    def is_enabled(self, kind: str) -> bool:
        return self.kinds.get(kind, True)


# key → schema; opscore registers its own (llm_budget, lane_switches, worker_switches), each
# lane its own from its ready().
SCHEMAS: Registry = Registry("policy key")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "value"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_policy(key: str, value, *, saving: bool = False, kept=frozenset()) -> PolicyValue:
    """Reading tolerates names (step kinds, lanes) no code knows any more; saving refuses them
    unless they are `kept`, i.e. already on file (see opscore.policy_names)."""
    schema = SCHEMAS.get(key)
    if schema is None:
        raise PolicyError(f"unknown policy key {key!r}; known keys: {sorted(SCHEMAS)}")
    if not isinstance(value, dict):
        raise PolicyError(f"{key} must be a JSON object, got {type(value).__name__}")
    try:
        check_clean(value, key)
    except InputRefused as refused:
        raise PolicyError(f"{key} is invalid: {refused}") from None
    try:
        return schema.model_validate(value, context={"saving": saving, "kept": kept})
    except ValidationError as error:
        raise PolicyError(f"{key} is invalid: {_describe(error)}") from None


def validate_policy(key: str, value, *, stored=None) -> dict:
    """Return the normalised JSON to store, or raise PolicyError. `stored` is the value on
    file: the unknown names it already holds may stay, a newly typed one is refused."""
    kept = names_on_file(SCHEMAS[key], stored) if key in SCHEMAS else frozenset()
    return parse_policy(key, value, saving=True, kept=kept).model_dump(mode="json")


def default_value(key: str) -> dict:
    return SCHEMAS[key]().model_dump(mode="json")
