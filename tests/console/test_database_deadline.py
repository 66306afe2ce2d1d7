"""A request that needs a row another session holds (an operator's psql transaction left open)
is answered once the database deadline passes, with a clear one-line reason and its transaction
rolled back, instead of waiting as long as the other session does. Each call runs on a thread the
test waits for at most BOUND seconds, so a hang fails the test rather than hanging it."""

import io
import os
import subprocess
import sys
import threading

import psycopg
import pytest
from django.db import connection, connections

from console.models import AgentToken
from missions.models import Mission
from opscore import serving
from opscore.cli import run_command
from opscore.models import Event, Runtime
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "test-token-0123456789-0123456789"
BOUND = 60  # far past the deadline: only a call that never ends reaches it


@pytest.fixture
def psql():
    """The operator's own session, outside Opscore's (no deadline of ours): what it locks in
    its open transaction stays locked until the test ends."""
    params = connection.get_connection_params()
    params = {k: v for k, v in params.items() if k not in ("cursor_factory", "context", "options")}
    session = psycopg.connect(**params)
    yield session
    session.rollback()
    session.close()


@pytest.fixture
def short_lock_deadline(monkeypatch):
    """The calls' own connections wait 0.2 s for a held row rather than the default 5 s: what
    is under test is the answer once the deadline passes, and each test spent 5 s waiting for
    it. The settings (and so Retry-After) keep the default."""
    options = connections.settings["default"]["OPTIONS"]
    monkeypatch.setitem(options, "options", "-c statement_timeout=30000 -c lock_timeout=200")


@pytest.fixture
def within_bound(psql, short_lock_deadline):
    """Runs a call on its own thread (its own connection); the answer, or None past BOUND."""
    threads = []

    def run(call):
        answer = {}

        def target():
            try:
                answer["value"] = call()
            except SystemExit as exit:
                answer["value"] = exit.code
            finally:
                connections.close_all()

        thread = threading.Thread(target=target, daemon=True)
        threads.append(thread)
        thread.start()
        thread.join(BOUND)
        return answer.get("value")

    yield run
    psql.rollback()  # a call still waiting gets its row now, and ends
    for thread in threads:
        thread.join()


@pytest.fixture
def mission(db):
    return make_step("noop", agent=AgentFactory(slug="devops")).mission


def lock_mission(psql, mission):
    psql.execute("SELECT 1 FROM missions_mission WHERE id = %s FOR UPDATE", [mission.pk])


def untouched(mission) -> bool:
    paused = Event.objects.filter(kind="mission.paused").exists()
    return Mission.objects.get(pk=mission.pk).paused_at is None and not paused


def test_an_api_call_on_a_held_row_gets_a_json_503_not_a_hang(
    client, settings, psql, mission, within_bound
):
    settings.OPS_API_TOKEN = TOKEN
    lock_mission(psql, mission)

    answer = within_bound(
        lambda: client.post(
            f"/api/ops/missions/{mission.pk}/pause",
            {"reason": "hold"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    )

    assert answer is not None, "the request was still waiting for the row"
    assert answer.status_code == 503 and answer["Retry-After"] == "5"
    assert answer.json()["error"].startswith("database busy: another session holds a row")
    assert untouched(mission)


def test_an_admin_action_on_a_held_row_gets_a_busy_page(admin_client, psql, mission, within_bound):
    lock_mission(psql, mission)
    form = {"action": "pause_missions", "_selected_action": [mission.pk], "apply": "1"}

    answer = within_bound(
        lambda: admin_client.post("/admin/missions/mission/", form | {"reason": "hold"})
    )

    assert answer is not None, "the admin page was still waiting for the row"
    assert answer.status_code == 503
    assert "Database busy" in answer.content.decode()
    assert untouched(mission)


def test_a_filtered_admin_list_on_a_locked_table_says_busy_not_bad_filters(
    admin_client, psql, mission, within_bound
):
    """The list's guard drops filters the database refused; a deadline is not their fault."""
    psql.execute("LOCK TABLE missions_mission IN ACCESS EXCLUSIVE MODE")  # as a migration does

    answer = within_bound(lambda: admin_client.get(f"/admin/missions/mission/?id={mission.pk}"))

    assert answer is not None, "the admin list was still waiting for the table"
    assert answer.status_code == 503
    assert "Database busy" in answer.content.decode()


def test_an_agent_bus_call_on_a_held_row_gets_a_json_503(client, psql, within_bound):
    agent = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL)
    token, secret = AgentToken.issue(agent, "vps", actor="test")
    psql.execute("SELECT 1 FROM console_agenttoken WHERE id = %s FOR UPDATE", [token.pk])

    answer = within_bound(
        lambda: client.post(
            "/api/agent/claim-jobs",
            {},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )
    )

    assert answer is not None, "the agent's call was still waiting for the row"
    assert answer.status_code == 503
    assert answer.json()["error"].startswith("database busy: another session holds a row")


def test_a_command_on_a_held_row_says_so_in_one_line(psql, mission, within_bound, monkeypatch):
    said = io.StringIO()
    monkeypatch.setattr("sys.stderr", said)
    lock_mission(psql, mission)

    code = within_bound(
        lambda: run_command(["opscore", "mission", "pause", str(mission.pk), "--reason", "hold"])
    )

    assert code == 1, "the command was still waiting for the row"
    last = said.getvalue().splitlines()[-1]  # after the system checks' warnings, if any
    assert last.startswith("opscore mission: database busy: another session holds a row")
    assert untouched(mission)


def test_each_connection_starts_with_the_deadlines_set(settings):
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
        )
        shown = cursor.fetchone()

    assert shown == (
        f"{settings.OPS_DB_STATEMENT_TIMEOUT_SECONDS}s",
        f"{settings.OPS_DB_LOCK_TIMEOUT_SECONDS}s",
    )


SHOW_OPTIONS = (
    "from django.conf import settings;"
    "print(settings.DATABASES['default']['OPTIONS'].get('options', 'none'))"
)


@pytest.mark.parametrize(
    "command, options",
    [
        ("mission pause 3", "-c statement_timeout=30000 -c lock_timeout=5000"),
        ("migrate", "none"),
        ("backup", "none"),
        ("work", "none"),
        ("memory embed", "none"),
        ("memory search", "-c statement_timeout=30000 -c lock_timeout=5000"),
    ],
)
def test_long_maintenance_and_the_workers_run_without_them(command, options):
    env = os.environ | {serving.COMMAND_ENV: command, "DJANGO_SETTINGS_MODULE": "opscore.settings"}
    env.pop("OPS_DB_STATEMENT_TIMEOUT_SECONDS", None)
    env.pop("OPS_DB_LOCK_TIMEOUT_SECONDS", None)

    shown = subprocess.run(
        [sys.executable, "-c", SHOW_OPTIONS], env=env, capture_output=True, text=True, check=True
    )

    assert shown.stdout.strip() == options


def test_an_mcp_tool_call_on_a_held_row_answers_as_the_http_api_does(psql, within_bound):
    """The same call as the agent bus's over HTTP: a tool error saying the database is busy,
    not the driver's own words (which name the table and the row it waited for)."""
    from tests.console.test_agent_mcp import session

    agent = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL)
    token, secret = AgentToken.issue(agent, "vps", actor="test")
    psql.execute("SELECT 1 FROM console_agenttoken WHERE id = %s FOR UPDATE", [token.pk])

    answer = within_bound(lambda: session(secret, [("claim-jobs", {})])[1][0])

    assert answer is not None, "the tool call was still waiting for the row"
    assert answer["is_error"] and answer["retry_after"] == 5
    assert answer["error"].startswith("database busy: another session holds a row")
    assert "console_agenttoken" not in str(answer)
