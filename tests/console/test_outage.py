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
