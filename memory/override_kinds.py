"""The overrides the memory lane owns: freeze promotions, mark a memory stale."""

from memory.decisions import DecisionRefused, mark_stale
from memory.models import CandidateStatus, Memory, MemoryCandidate, MemoryStatus
from memory.uses import uses_of
from opscore.models import Override
from opscore.overrides import OVERRIDE_KINDS, OverrideKind, OverrideRefused, write_switch

PROMOTIONS = "memory"  # the one target: every promotion, by the gate or anyone


def check_promotions(target: str) -> str:
    if target not in ("", PROMOTIONS, "promotions"):
        raise OverrideRefused(f"freeze-promotions has one target, {PROMOTIONS!r}")
    return PROMOTIONS


def waiting(target: str) -> dict:
    new = MemoryCandidate.objects.filter(status=CandidateStatus.NEW)
    return {"candidates_waiting": new.count()}


def set_frozen(row: Override, frozen: bool) -> None:
    def change(value):
        return value | {"frozen": frozen, "frozen_reason": row.reason if frozen else ""}

    write_switch("memory_policy", row, change, "promotions frozen" if frozen else "thawed")


def check_memory(target: str) -> str:
    if not target.isdecimal() or not Memory.objects.filter(pk=int(target)).exists():
        raise OverrideRefused(f"no memory {target!r}")
    if Memory.objects.filter(pk=int(target)).exclude(status=MemoryStatus.ACTIVE).exists():
        raise OverrideRefused(f"memory {target} is not active")
    return target


def memory_in_flight(target: str) -> dict:
    memory = Memory.objects.get(pk=int(target))
    return {"status": memory.status, "use_count": uses_of(memory), "text": memory.content[:200]}


def apply_stale(row: Override) -> dict:
    try:
        review = mark_stale(int(row.target), actor=row.actor, reason=row.reason)
    except DecisionRefused as refused:  # superseded or expired since check_memory looked
        raise OverrideRefused(str(refused)) from None
    return {"review": review.id}


KINDS = [
    OverrideKind(
        "freeze_promotions",
        "freeze memory promotions",
        True,
        check_promotions,
        waiting,
        apply=lambda row: set_frozen(row, True) or {"frozen": True},
        lift=lambda row: set_frozen(row, False),
        left=waiting,
        targets=lambda: [(PROMOTIONS, PROMOTIONS)],
    ),
    OverrideKind(
        "mark_memory_stale", "mark stale memory", False, check_memory, memory_in_flight, apply_stale
    ),
]


def register() -> None:
    for kind in KINDS:
        OVERRIDE_KINDS.register(kind.name, kind)
