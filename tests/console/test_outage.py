"""A database outage answers 503 with Retry-After: JSON for the API, a plain page elsewhere."""

import pytest
from django.db import OperationalError, connection
from django.db.backends.postgresql.base import DatabaseWrapper

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def outage(monkeypatch):
    """The database stops answering: new connections fail (the I/O seam)."""

    def refuse(self, params):
        raise OperationalError("connection refused")

    connection.close()
    monkeypatch.setattr(DatabaseWrapper, "get_new_connection", refuse)
    yield
    monkeypatch.undo()
    connection.close()


def test_the_api_answers_json_503_with_retry_after(client, outage):
    response = client.get("/api/ops/status")

    assert response.status_code == 503
    assert response.json() == {  # every refusal under /api/ has this shape (console.api.error)
        "ok": False,
        "error": "database unavailable",
        "errors": {},
        "retry_after": 5,
    }
    assert response["Retry-After"] == "5"


def test_the_stage_says_database_unavailable(client, outage):
    response = client.get("/stage/")

    assert response.status_code == 503
    assert b"Database unavailable" in response.content


def test_a_short_cron_secret_disables_the_heartbeat_endpoint(client, settings):
    settings.CRON_SECRET = "short-secret"

    response = client.post("/api/ops/heartbeat", headers={"Authorization": "Bearer short-secret"})

    assert response.status_code == 503
    assert "shorter than 32" in response.json()["error"]


@pytest.fixture
def not_yet_migrated():
    """A database `migrate` has not finished: the health view the status reads is not there and
    the console app's migrations are not recorded (put back after)."""
    from django.db.migrations.recorder import MigrationRecorder

    recorded = MigrationRecorder.Migration.objects.filter(app="console")
    kept = list(recorded.values("app", "name", "applied"))
    recorded.delete()
    with connection.cursor() as cursor:
        cursor.execute("ALTER VIEW system_health_snapshot_v RENAME TO not_yet")
    yield
    with connection.cursor() as cursor:
        cursor.execute("ALTER VIEW not_yet RENAME TO system_health_snapshot_v")
    MigrationRecorder.Migration.objects.bulk_create(
        MigrationRecorder.Migration(**row) for row in kept
    )


@pytest.mark.parametrize("path", ["/api/ops/status", "/stage/"])
def test_a_database_not_yet_migrated_is_a_503_naming_migrate_not_a_500(
    client, settings, not_yet_migrated, path
):
    """`/api/ops/status` (and any page that reads what a migration makes) answered 500 with a
    traceback in the log before `migrate` had run; /readyz and /metrics already said why."""
    settings.STAGE_PUBLIC = True

    response = client.get(path)

    assert response.status_code == 503, response.content[:300]
    assert b"database not migrated: run migrate" in response.content
