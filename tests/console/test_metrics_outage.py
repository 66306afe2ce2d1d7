"""While the database is down `/metrics` has no figure to give, so every alert that reads one
falls silent: the rules page on the figures' absence itself."""

import re
from pathlib import Path

import pytest
import yaml
from django.db import OperationalError, connection
from django.db.backends.postgresql.base import DatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder
from prometheus_client.parser import text_string_to_metric_families

RULES = Path(__file__).resolve().parents[2] / "deploy/prometheus/opscore-rules.yml"


def absence_alerts() -> dict[str, str]:
    """Each alert that fires on a family's absence: its name → the family it watches."""
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    watched = {r["alert"]: re.fullmatch(r"absent\((opscore_\w+)\W.*", r["expr"]) for r in rules}
    return {alert: found[1] for alert, found in watched.items() if found}


@pytest.mark.django_db(transaction=True)
def test_a_scrape_during_an_outage_gives_no_database_figure(client, monkeypatch):
    def refuse(self, params):
        raise OperationalError("connection refused")

    connection.close()
    monkeypatch.setattr(DatabaseWrapper, "get_new_connection", refuse)
    try:
        scraped = client.get("/metrics")
    finally:
        monkeypatch.undo()
        connection.close()

    assert scraped.status_code == 503


@pytest.mark.django_db
def test_an_alert_pages_when_no_node_serves_the_database_figures(client):
    families = {f.name for f in text_string_to_metric_families(client.get("/metrics").text)}
    alerts = absence_alerts()

    assert alerts, "no rule fires while the database figures are missing"
    assert set(alerts.values()) <= families  # a family every healthy scrape has


@pytest.mark.django_db
def test_a_cluster_that_never_swept_is_stalled_in_the_scrape_as_in_status(client):
    """`status` says STALLED when the cluster never swept (it was never started); the scrape
    had no age to give, so the age-based alert never fired on a fresh install."""
    found = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}

    assert [s.value for s in found["opscore_sweeper_stalled"].samples] == [1]
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    stalled = next(rule for rule in rules if rule["alert"] == "OpscoreSweeperStalled")
    assert "opscore_sweeper_stalled" in stalled["expr"]


@pytest.mark.django_db
def test_a_scrape_of_a_database_not_yet_migrated_is_a_503_that_says_so(client):
    """Before `migrate` installs the health views a scrape answered 500 with a traceback."""
    MigrationRecorder.Migration.objects.filter(app="console").delete()
    with connection.cursor() as cursor:
        cursor.execute("ALTER VIEW system_health_snapshot_v RENAME TO not_yet")

    scraped = client.get("/metrics")

    assert scraped.status_code == 503
    assert scraped.json()["error"].startswith("database not migrated")
