"""The system's own django-q2 schedules, kept in sync by name (idempotent)."""

from django_q.models import Schedule

SYSTEM_SCHEDULES = [
    ("opscore.heartbeat", "console.tasks.heartbeat", 5),
    ("missions.sweep", "missions.tasks.sweep", 1),
    ("roundtable.schedule", "roundtable.tasks.schedule_conversations", 10),
    ("roundtable.run", "roundtable.tasks.run_next_conversation", 1),
    ("memory.initiatives", "memory.tasks.draft_initiatives", 1),
    ("opscore.held_orders", "opscore.tasks.run_held_orders", 1),
    ("console.vault", "console.tasks.export_vault", 30),
    ("console.first_boot", "console.tasks.first_boot_plan", 1),
]


SYSTEM_PREFIXES = r"^(opscore|missions|roundtable|memory|console)\."


def ensure_system_schedules() -> list[str]:
    """Create or update every system schedule, and drop any a newer version no longer has."""
    wanted = [name for name, _, _ in SYSTEM_SCHEDULES]
    Schedule.objects.filter(name__regex=SYSTEM_PREFIXES).exclude(name__in=wanted).delete()
    changed = []
    for name, func, minutes in SYSTEM_SCHEDULES:
        _, created = Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": func,
                "schedule_type": Schedule.MINUTES,
                "minutes": minutes,
                "repeats": -1,
            },
        )
        if created:
            changed.append(name)
    return changed
