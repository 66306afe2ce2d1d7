"""Probes for load balancers and orchestrators. Unauthenticated and cheap: they name what is
not ready, never a secret or a row's content.

`/healthz` answers from the process alone (no database), so a database outage does not get
every web process restarted; `/readyz` says whether this node should get traffic: the database
answers, every migration is applied, and at least one worker is live (has reported within
OPS_WORKER_STALE_SECONDS, the threshold `status` and the health views use).
"""

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse

from console.api_errors import get_only
from missions.models import Worker


@get_only
def healthz(request):
    return JsonResponse({"alive": True})


@get_only
def readyz(request):
    problems = readiness_problems()
    status = 503 if problems else 200
    response = JsonResponse({"ready": not problems, "not_ready": problems}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def readiness_problems() -> dict[str, str]:
    """What keeps this node from serving, by check; empty when ready. Later checks need the
    database, so an unreachable one is the only answer."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        connection.close_if_unusable_or_obsolete()
        return {"database": f"not reachable ({type(error).__name__})"}
    problems = {}
    pending = unapplied_migrations()
    if pending:
        problems["migrations"] = f"{len(pending)} unapplied: {', '.join(pending[:5])}"
    try:
        with transaction.atomic():  # a savepoint: a database not migrated yet has no such table
            live = Worker.objects.live().exists()
    except DatabaseError:
        problems["workers"] = "not known until the migrations are applied"
        return problems
    if not live:
        problems["workers"] = f"no worker has reported within {settings.OPS_WORKER_STALE_SECONDS} s"
    return problems


def unapplied_migrations() -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
