"""`memory promote ID` while another reviewer holds the same candidate (the gate's pass, a
curator): the CLI says so in one line and exits 2, as any refusal. It raised an
AttributeError traceback: review_candidate answers None when someone else got there first."""

import json

import psycopg
import pytest
from django.core.management import call_command

from memory.models import MemoryReview
from tests.factories import AgentFactory
from tests.memory.test_memory_decisions import candidate
from tests.processes import database_url

pytestmark = pytest.mark.django_db(transaction=True)


def test_promoting_a_candidate_another_reviewer_holds_is_refused_in_one_line(capsys):
    waiting = candidate(AgentFactory(slug="devops"))
    with psycopg.connect(database_url()) as gate:
        gate.execute("SELECT 1 FROM memory_memorycandidate WHERE id = %s FOR UPDATE", [waiting.id])
        with pytest.raises(SystemExit) as exit_:
            call_command("memory", "--json", "promote", str(waiting.id))
        gate.rollback()

    assert exit_.value.code == 2
    said = json.loads(capsys.readouterr().out)["error"]
    assert said == f"candidate {waiting.id} is being decided by another reviewer; nothing was done"
    assert not MemoryReview.objects.exists()
