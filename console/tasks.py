"""django-q2 entry points of the top layer."""

from opscore.heartbeat import run_heartbeat


def heartbeat() -> dict:
    return run_heartbeat("schedule").as_json()
