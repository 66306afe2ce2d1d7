"""Who forced a gate is the `--operator` of `bootstrap`: the account running the command when
it is left out, as typed otherwise, kept as one readable name either way."""

import os
from io import StringIO

import pytest
from django.core.management import call_command

from console.bootstrap import bootstrap
from opscore.models import Event, StandingOrder

pytestmark = pytest.mark.django_db


def forced_by(*operator: str) -> Event:
    bootstrap(1, actor="test")
    call_command("bootstrap", "--phase", "2", "--force", *operator, stdout=StringIO())
    return Event.objects.get(kind="bootstrap.gate_forced")


def test_bootstrap_runs_under_an_account_the_system_cannot_name(monkeypatch):
    """A container run under a uid with no passwd entry and no USER or LOGNAME (OpenShift's
    arbitrary uids): getpass.getuser() raised while the parser was built, so every `bootstrap`,
    `--help` included, was a KeyError traceback."""

    def no_name():
        raise KeyError(f"getpwuid(): uid not found: {os.getuid()}")

    monkeypatch.setattr("getpass.getuser", no_name)

    assert forced_by().actor == f"operator:uid-{os.getuid()}"


def test_a_forced_gate_names_its_operator_without_characters_that_hide_or_reorder(capsys):
    """`--operator` went into the ledger as typed: a bidi override turned the name that forced
    the gate around on every feed line, and a newline made the one-line record two."""
    forced = forced_by("--operator", "\u202eann\nroot")

    assert forced.actor == "operator:ann root"
    assert "\u202e" not in forced.title and "\n" not in forced.title
    with pytest.raises(SystemExit) as refused:
        from opscore.cli import main

        main(["opscore", "bootstrap", "--phase", "1", "--operator", "\u200b\u202e"])
    assert refused.value.code == 2 and "--operator" in capsys.readouterr().err


def test_rerunning_a_phase_in_force_is_not_held_by_the_gate_it_already_passed():
    """`bootstrap --phase 2` is safe to re-run (it brings back what is missing), but once phase
    2 was in force a re-run faced phase 1's gate again: with the system stopped (no live worker)
    it was refused, and a `bootstrap.gate_refused` row said phase 2 was held back while it ran."""
    forced_by("--operator", "ann")
    order = StandingOrder.objects.filter(phase=2).first()
    order.delete()

    call_command("bootstrap", "--phase", "2", "--operator", "ann", stdout=StringIO())

    assert StandingOrder.objects.filter(name=order.name).exists()
    assert not Event.objects.filter(kind="bootstrap.gate_refused").exists()
    assert Event.objects.filter(kind="bootstrap.gate_forced").count() == 1
