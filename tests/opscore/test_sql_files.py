"""The SQL the database runs is the SQL in the newest versioned file of each name."""

import re

import pytest
from django.conf import settings
from django.db import connection

from opscore.sqlfiles import latest_versions, read_sql, sql_dir

pytestmark = pytest.mark.django_db
FUNCTION = re.compile(
    r"CREATE OR REPLACE (?:FUNCTION|PROCEDURE) (?P<name>\w+)\((?P<head>.*?)\$\$(?P<body>.*?)\$\$",
    re.S,
)
TRIGGER = re.compile(r"CREATE TRIGGER (\w+)")


def latest_files(app):
    return {name: read_sql(app, name, version) for name, version in latest_versions(app).items()}


def installed(function: str) -> tuple[str, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc, proconfig FROM pg_proc WHERE proname = %s", [function])
        rows = cursor.fetchall()
    assert len(rows) == 1, f"{function}: {len(rows)} functions of that name"
    return rows[0][0], rows[0][1] or []


def as_installed(function: str, body: str) -> str:
    """The file's body, but opscore_spend_zone names OPS_TIME_ZONE: every migrate writes it over
    the file's 'UTC' (opscore.budgets.sync_spend_zone), so a run in New York is no mismatch."""
    if function == "opscore_spend_zone":
        return body.replace("'UTC'", f"'{settings.TIME_ZONE}'")
    return body


@pytest.mark.parametrize("app", ["missions", "opscore", "memory", "console"])
def test_every_installed_function_body_equals_its_newest_file(app):
    checked = 0
    for name, text in latest_files(app).items():
        for match in FUNCTION.finditer(text):
            body, config = installed(match["name"])
            assert body == as_installed(match["name"], match["body"]), (
                f"{name}: {match['name']} differs from its file"
            )
            wanted = [f"{k}={v}" for k, v in re.findall(r"SET (\w+) = (\w+)", match["head"])]
            assert config == wanted, f"{match['name']} runs with {config}, its file says {wanted}"
            checked += 1
    assert checked >= {"missions": 5, "opscore": 2, "memory": 1, "console": 1}[app]


@pytest.mark.parametrize("app", ["missions", "opscore", "memory"])
def test_every_trigger_in_the_newest_files_is_installed(app):
    names = [t for text in latest_files(app).values() for t in TRIGGER.findall(text)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname = ANY(%s)", [names])
        found = {row[0] for row in cursor.fetchall()}
    assert names and set(names) == found


def test_each_name_has_no_gaps_in_its_versions():
    for app in ["missions", "opscore", "memory", "console"]:
        for name, version in latest_versions(app).items():
            for earlier in range(1, version + 1):
                assert read_sql(app, name, earlier)


def test_both_claims_run_the_one_definition_of_a_step_that_may_run():
    """The workers' claim and an outside runtime's claim share one written condition: a change
    to it reaches both, or the installed bodies stop matching their files."""
    part_name = max(
        (sql_dir("missions") / "parts").glob("step_may_run.v*.sql"),
        key=lambda path: int(path.stem.rsplit(".v", 1)[1]),
    ).stem
    part = (sql_dir("missions") / "parts" / f"{part_name}.sql").read_text()
    first_line = part.splitlines()[0]
    for function in ("opscore_claim_step", "opscore_claim_step_for_agent"):
        body, _ = installed(function)
        assert "worker_switches" in body and "lane_switches" in body, function
        assert first_line.strip() in body, function
    for name in ("claim_step", "claim_step_for_agent"):
        text = written(f"{name}.v{latest_versions('missions')[name]}.sql", but=part_name)
        assert f"-- include: {part_name}" in text and "worker_switches" not in text, name


def written(file: str, but: str) -> str:
    """A file's text and the text of the parts it includes (a part may include another), each
    unexpanded, all but the part `but`."""
    text = (sql_dir("missions") / file).read_text()
    for part in re.findall(r"-- include: ([a-z_]+\.v\d+)", text):
        text += "" if part == but else written(f"parts/{part}.sql", but)
    return text
