"""The system's own django-q2 schedules, kept in sync by name (idempotent)."""

from django_q.models import Schedule

SYSTEM_SCHEDULES = [
    ("opscore.heartbeat", "console.tasks.heartbeat", 5),
    ("missions.sweep", "missions.tasks.sweep", 1),
    ("missions.top_up_workers", "missions.tasks.top_up_workers", 1),
    ("roundtable.schedule", "roundtable.tasks.schedule_conversations", 10),
    ("roundtable.run", "roundtable.tasks.run_next_conversation", 1),
]


def ensure_system_schedules() -> list[str]:
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
