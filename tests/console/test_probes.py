"""`/healthz` (the process, no database) and `/readyz` (database, migrations, a live worker)
for load balancers, in both states."""

import socket

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.db.models.functions import Now

from missions.models import Worker


def test_healthz_answers_without_touching_the_database(client):
    response = client.get("/healthz")  # no django_db mark: a query here would raise

    assert (response.status_code, response.json()) == (200, {"alive": True})


@pytest.mark.django_db
def test_readyz_is_ready_with_the_database_migrations_and_a_live_worker(client):
    Worker.objects.create(worker_id="w1", host="h", pid=1)

    response = client.get("/readyz")

    assert (response.status_code, response.json()) == (200, {"ready": True, "not_ready": {}})


@pytest.mark.django_db
def test_a_worker_that_stopped_cleanly_makes_no_node_ready(client):
    Worker.objects.create(worker_id="w1", host="h", pid=1, stopped_at=Now())

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["not_ready"]["workers"] == "no worker has reported within 90 s"


@pytest.mark.django_db
def test_readyz_names_a_missing_worker_and_an_unapplied_migration(client):
    latest = MigrationRecorder.Migration.objects.filter(app="console").latest("id")
    latest.delete()

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["not_ready"]["workers"] == "no worker has reported within 90 s"
    assert body["not_ready"]["migrations"] == f"1 unapplied: console.{latest.name}"


@pytest.mark.django_db
def test_readyz_on_a_database_not_yet_migrated_says_so_without_a_500(client):
    """A node started before `migrate` ran (a fresh database, a rolling deploy): the worker
    check read a table that was not there yet and the probe answered 500 with a traceback."""
    MigrationRecorder.Migration.objects.filter(app="missions").delete()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE missions_worker RENAME TO missions_worker_gone")

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()["not_ready"]
    assert "unapplied: missions.0001_initial" in body["migrations"]
    assert body["workers"] == "not known until the migrations are applied"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens here once the socket is closed


@pytest.mark.django_db(transaction=True)
def test_readyz_says_the_database_is_unreachable_and_healthz_stays_up(client, monkeypatch):
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
    monkeypatch.setitem(connection.settings_dict, "PORT", closed_port())
    try:
        ready, alive = client.get("/readyz"), client.get("/healthz")
    finally:
        connection.close()

    assert (ready.status_code, ready.json()["not_ready"]) == (
        503,
        {"database": "not reachable (OperationalError)"},
    )
    assert alive.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_a_head_probe_is_answered_as_a_get_without_the_body(client, path):
    """A load balancer checking with HEAD (HAProxy's `option httpchk HEAD /healthz`) got 405
    and took a healthy node out of service."""
    head = client.head(path)

    assert head.status_code == client.get(path).status_code
    assert head.content == b""
