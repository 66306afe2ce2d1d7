"""`coding doctor` says which confinement the machine gives; where the box cannot be built, a
run is refused with the reason — unless the operator opted in to unconfined runs, which is
then said on the run (issue 26)."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from coding import confine, sandbox
from coding.driver import handle_one_run
from opscore.models import Event
from tests.coding_support import new_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def no_landlock(monkeypatch):
    """A kernel without Landlock: its syscall says so (the box's probe is rerun)."""
    monkeypatch.setattr(confine, "landlock_abi", lambda: 0)
    sandbox.confinement.cache_clear()
    yield
    monkeypatch.undo()
    sandbox.confinement.cache_clear()


def doctor() -> dict:
    out = StringIO()
    call_command("coding", "doctor", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_doctor_lists_each_confinement_feature_and_whether_runs_are_confined():
    found = doctor()

    assert set(found["features"]) == {"landlock", "tcp_rules", "scoping", "runs_as", "namespaces"}
    assert found["egress"] == {"hosts": [], "runners": ["claude-code", "codex"]}
    if found["missing"]:
        pytest.skip(f"this kernel cannot build the box: {found['missing']}")
    assert found["runs"] == "confined" and found["features"]["namespaces"]["ok"]
    assert found["features"]["runs_as"]["uid"] != 0


def test_without_the_box_doctor_says_why_and_a_run_is_refused_with_the_reason(
    coding_repo, no_landlock
):
    found = doctor()
    run = new_run(coding_repo, "@greet")
    handle_one_run()

    run.refresh_from_db()
    assert found["runs"] == "refused" and "landlock: no Landlock in kernel" in found["missing"]
    assert run.status == "blocked" and run.reason.startswith("refused: the sandbox cannot")
    assert (
        Event.objects.get(kind="coding.run.blocked", payload__run_id=run.id).summary == run.reason
    )
    assert not run.iterations.exists()


def test_an_operator_opt_in_runs_it_unconfined_and_says_so_on_the_run(
    coding_repo, no_landlock, settings
):
    settings.OPS_CODING_ALLOW_UNCONFINED = True

    run = new_run(coding_repo, "@greet")
    handle_one_run()

    run.refresh_from_db()
    assert doctor()["runs"] == "unconfined (opted in)"
    assert run.status == "waiting_for_review"
    notes = Event.objects.filter(kind="coding.run.sandbox", payload__run_id=run.id)
    assert notes.exists() and all("ran UNCONFINED" in n.summary for n in notes)


def test_status_and_the_stage_show_an_unconfined_lane_in_red(client, no_landlock, settings):
    settings.OPS_CODING_ALLOW_UNCONFINED = True
    out = StringIO()

    call_command("status", "--json", stdout=out)
    page = client.get("/stage/coding").content.decode()

    assert json.loads(out.getvalue())["coding_sandbox"]["runs"] == "unconfined (opted in)"
    assert 'class="sandbox-alert"' in page and "harness runs unconfined (opted in)" in page
