"""Evidence refs: `[{"type": "step", "id": 12}, …]`, each naming a row that exists.

Every candidate and memory carries them, checked at the boundary: a candidate citing a row
that does not exist is refused, so provenance can always be walked back to the ledger. The
lanes that own a kind of evidence register it here (the roundtable its conversations).
"""

from django.apps import apps

from opscore.inputs import FieldErrors
from opscore.registry import Registry


class EvidenceInvalid(FieldErrors):
    """An evidence ref that is malformed or names no row."""


# evidence type → "app_label.Model"
EVIDENCE_TYPES: Registry = Registry("evidence type")
BUILTIN = {
    "step": "missions.Step",
    "attempt": "missions.StepAttempt",
    "event": "opscore.Event",
    "run": "opscore.StandingOrderRun",
    "metric": "missions.ContentMetric",
    "mission": "missions.Mission",
    "publication": "missions.Publication",
    "artifact": "missions.Artifact",
    "feedback": "missions.Feedback",
    "memory_candidate": "memory.MemoryCandidate",
}
MAX_REFS = 50
# evidence type → f(id) -> why a row of that type is untrusted ('' when it is not); each lane
# registers its own rows (missions.provenance for the builtin ones)
UNTRUSTED_BECAUSE: Registry = Registry("untrusted check")


def untrusted_reason(refs: list[dict], *, how: str = "cites") -> str:
    """Why content citing (or, `how`, reading) these refs is untrusted — the first row that
    is — or ''."""
    for ref in refs:
        check = UNTRUSTED_BECAUSE.get(ref.get("type"))
        why = check(ref["id"]) if check else ""
        if why:
            return f"{how} {ref['type']} {ref['id']}: {why}"[:300]
    return ""


def check_evidence(refs) -> list[dict]:
    """The refs normalised to `{type, id}`, or EvidenceInvalid naming each bad one."""
    if not isinstance(refs, list) or len(refs) > MAX_REFS:
        raise EvidenceInvalid({"evidence": [f"a list of at most {MAX_REFS} {{type, id}} refs"]})
    clean, errors = [], {}
    for index, ref in enumerate(refs):
        problem = _problem(ref)
        if problem:
            errors[f"evidence.{index}"] = [problem]
        else:
            clean.append({"type": ref["type"], "id": ref["id"]})
    if errors:
        raise EvidenceInvalid(errors)
    return clean


def _problem(ref) -> str | None:
    """Why one ref is refused, or None. Its type and id come as any JSON: a list is no
    registry key and a string is no primary key, so each is checked for its kind first."""
    if not isinstance(ref, dict) or set(ref) != {"type", "id"}:
        return "expected {type, id}"
    kind = ref["type"]
    label = EVIDENCE_TYPES.get(kind) if isinstance(kind, str) else None
    if label is None:
        shown = repr(kind)[:40] if isinstance(kind, str) else f"(a JSON {_json_kind(kind)})"
        return f"unknown evidence type {shown}; known: {', '.join(EVIDENCE_TYPES.names())}"
    if not isinstance(ref["id"], int) or isinstance(ref["id"], bool):
        return "id must be an integer"
    if not apps.get_model(label).objects.filter(pk=ref["id"]).exists():
        return f"no {kind} {ref['id']}"
    return None


def _json_kind(value) -> str:
    kinds = {bool: "boolean", int: "number", float: "number", list: "list", dict: "object"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def prompt_carried_untrusted(step_id: int) -> str:
    """A step is as trusted as what its prompts carried (missions.provenance.STEP_TAINTS): a
    memory whose words are not Opscore's own, served to its model, makes what it wrote (and
    work citing that) untrusted, as a conversation's prompts do its distillation."""
    from memory.models import Memory
    from opscore.models import LLMCall

    why = Memory.objects.carried_by(LLMCall.objects.filter(step_id=step_id)).not_our_words()
    return f"S{step_id}'s prompt carried {why}"[:300] if why else ""
