"""django-q2 entry points of the top layer."""

from opscore.heartbeat import run_heartbeat


def heartbeat() -> dict:
    return run_heartbeat("schedule").as_json()


def export_vault() -> dict:
    from django.conf import settings

    from console.vault import export_vault as export

    return export(settings.OPS_VAULT_ROOT)


def first_boot_plan() -> dict:
    from console.first_boot import run_first_boot_plan

    return run_first_boot_plan()
