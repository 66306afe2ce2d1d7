"""Policy fields that name things living in code (step kinds, lanes): strict when written,
tolerant when read.

A stored value can name a kind whose code is gone — a plug-in removed after the breaker wrote
its kind into `worker_switches`, or an operator listed it in `auto_approve`. Refusing such a
value when it is *read* turned every reader into a 500, so reading keeps the name and the gates
simply never meet it; `unknown_names` reports it (status, health, a system check). Writing still
refuses a name that is unknown *and new*: what was already on file is carried over, so the
breaker and the overrides can keep rewriting a value an operator has not yet cleaned up.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ValidationInfo

from opscore.registry import known_kind_names


@dataclass(frozen=True)
class NamesIn:
    """Marks a field whose items (a list) or keys (a dict) must be names from `known()`."""

    what: str
    known: Callable[[], Iterable[str]]

    def unknown(self, names) -> list[str]:
        return sorted(set(names) - set(self.known()))

    def validator(self) -> AfterValidator:
        def check(names, info: ValidationInfo):
            context = info.context or {}
            if not context.get("saving"):
                return names
            new = [n for n in self.unknown(names) if n not in context.get("kept", ())]
            if new:
                known = sorted(self.known())
                raise ValueError(f"unknown {self.what} {new}; known {self.what}: {known}")
            return names

        return AfterValidator(check)


def names_in(what: str, known: Callable[[], Iterable[str]], python_type):
    marker = NamesIn(what, known)
    return Annotated[python_type, marker, marker.validator()]


def StepKinds(python_type):  # capitalised: it reads as a type in a schema
    return names_in("step kinds", known_kind_names, python_type)


def _marked_fields(schema: type[BaseModel]):
    for name, field in schema.model_fields.items():
        for marker in field.metadata:
            if isinstance(marker, NamesIn):
                yield name, marker


def unknown_names(value: BaseModel) -> dict[str, list[str]]:
    """{field: names its code no longer knows} for one parsed value; empty when all is known."""
    found = {}
    for name, marker in _marked_fields(type(value)):
        unknown = marker.unknown(getattr(value, name))
        if unknown:
            found[name] = unknown
    return found


def names_on_file(schema: type[BaseModel], stored) -> frozenset[str]:
    """Every name the stored JSON's marked fields mention: a rewrite may carry them over."""
    if not isinstance(stored, dict):
        return frozenset()
    names = set()
    for name, _ in _marked_fields(schema):
        raw = stored.get(name)
        if isinstance(raw, list | dict):
            names |= {n for n in raw if isinstance(n, str)}
    return frozenset(names)


def describe_unknown(found: dict[str, dict[str, list[str]]]) -> list[str]:
    """One line per field, as people read it: `auto_approve.allowed_step_kinds: gone_kind`."""
    return [
        f"{key}.{field}: {', '.join(names)}"
        for key, fields in sorted(found.items())
        for field, names in sorted(fields.items())
    ]


def known_part(value: BaseModel) -> dict:
    """The value as JSON without its unknown names: dropping those changes nothing in force."""
    data = value.model_dump(mode="json")
    for field, names in unknown_names(value).items():
        kept = data[field]
        data[field] = (
            {k: v for k, v in kept.items() if k not in names}
            if isinstance(kept, dict)
            else [n for n in kept if n not in names]
        )
    return data
