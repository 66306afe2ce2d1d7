"""`make run` on an empty database (`up --no-serve`): what a newcomer reads first and what
the first boot sets moving."""

import socket
from io import StringIO

import pytest
from django.core.management import call_command

from console.bootstrap import bootstrap
from missions.models import Proposal, TriggerRule
from opscore.models import Agent, Event
from roundtable.models import Conversation

pytestmark = pytest.mark.django_db


def test_it_prints_the_stage_url_before_the_admin_password(monkeypatch):
    monkeypatch.setenv("OPS_ADMIN_PASSWORD", "")
    out = StringIO()
    call_command("up", "--no-serve", stdout=out)

    lines = out.getvalue().splitlines()
    stage = next(i for i, line in enumerate(lines) if line.startswith("Stage: "))
    login = next(i for i, line in enumerate(lines) if line.startswith("Admin login: "))
    assert stage < login


def test_a_taken_port_is_refused_before_anything_is_set_up_or_printed():
    from django.core.management import CommandError

    out = StringIO()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(CommandError, match=f"cannot serve on 127.0.0.1:{port}") as refused:
            call_command("up", "--port", str(port), stdout=out)

    assert refused.value.returncode == 2 and "OPS_PORT=" in str(refused.value)
    assert out.getvalue() == "" and not Agent.objects.exists()


def test_an_address_this_machine_does_not_have_is_named_as_the_address_not_a_taken_port():
    """`OPS_HOST=192.0.2.1 make run` (a typo, another machine's address) was told "stop what
    holds it, or pick another port: OPS_PORT=8001": nothing held the port, and another port
    fails the same way."""
    from django.core.management import CommandError

    with pytest.raises(CommandError, match=r"cannot serve on 192\.0\.2\.1:8765") as refused:
        call_command("up", "--host", "192.0.2.1", "--port", "8765", stdout=StringIO())

    assert refused.value.returncode == 2 and "OPS_HOST=127.0.0.1" in str(refused.value)
    assert "OPS_PORT=" not in str(refused.value) and not Agent.objects.exists()


def test_a_first_boot_starts_the_first_boot_plan_through_the_intake():
    out = StringIO()
    call_command("up", "--no-serve", stdout=out)

    assert Event.objects.filter(kind="first_boot.plan_started").count() == 1
    assert Proposal.objects.filter(source="plan", status="accepted").count() >= 2
    assert Proposal.objects.filter(source="plan", status="pending").count() == 1
    assert "First-boot plan:" in out.getvalue()


def test_a_second_boot_starts_no_plan():
    call_command("up", "--no-serve", stdout=StringIO())
    before = Proposal.objects.count()
    call_command("up", "--no-serve", stdout=StringIO())

    assert Proposal.objects.count() == before
    assert Event.objects.filter(kind="first_boot.plan_started").count() == 1


def test_phase_one_installs_no_trigger_for_an_agent_it_leaves_disabled():
    bootstrap(1, actor="test")

    disabled = set(Agent.objects.filter(enabled=False).values_list("slug", flat=True))
    targets = {r.action_config["target_agent"] for r in TriggerRule.objects.all()}
    assert disabled and targets
    assert not targets & disabled


def test_a_later_phase_installs_the_triggers_of_the_agents_it_enables():
    bootstrap(1, actor="test")
    bootstrap(2, actor="test", force=True)

    targets = {r.action_config["target_agent"] for r in TriggerRule.objects.all()}
    assert {"research", "product-metrics"} <= targets


def test_a_restart_fails_the_conversation_a_stopped_process_left_running():
    orphan = Conversation.objects.create(
        format="debate",
        topic="t",
        participants=["devops", "security"],
        status="running",
        lease_owner=f"{socket.gethostname()}:999999999",  # no process has this pid
    )
    out = StringIO()
    call_command("up", "--no-serve", stdout=out)

    orphan.refresh_from_db()
    assert orphan.status == "failed"
    assert "Failed 1 conversation(s) a stopped process left running" in out.getvalue()


def test_a_restart_names_the_superuser_there_is_in_its_password_reset_line(monkeypatch):
    """The first boot made `ops` (OPS_ADMIN_USER=ops); a later `make run` without it said
    "reset with: .venv/bin/opscore changepassword admin", and that line, pasted, answered
    "user 'admin' does not exist"."""
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("ops", "", "a-password-of-the-first-boot")
    monkeypatch.delenv("OPS_ADMIN_USER", raising=False)
    out = StringIO()

    call_command("up", "--no-serve", stdout=out)

    login = next(line for line in out.getvalue().splitlines() if line.startswith("Admin login"))
    assert login.endswith("reset with: .venv/bin/opscore changepassword ops)")
    assert not get_user_model().objects.filter(username="admin").exists()
