"""Three action items a day, however many conversations distil at once: two workers that
finish their conversations together must not each see room for three."""

import threading

import pytest
from django.db import connections, transaction

from missions.models import Proposal
from opscore.models import Agent
from roundtable.distillation import Distillation, apply_distillation
from roundtable.lifecycle import request_conversation
from tests.processes import sessions_waiting_on_a_lock


def war_room(crew_slugs):
    return request_conversation("war_room", crew_slugs, "outage", source="schedule")


def items(prefix: str) -> Distillation:
    actions = [
        {"agent": "devops", "title": f"{prefix} {n}", "step_kind": "analyze"} for n in (1, 2, 3)
    ]
    return Distillation(memories=[], pairwise_drift=[], action_items=actions)


@pytest.mark.django_db(transaction=True)
def test_two_distillations_at_once_file_three_action_items_a_day_not_six(crew, clock):
    clock.midday()  # both distillations file on one day
    people = ["coordinator", "devops", "security"]
    first, second = war_room(people), war_room(people)
    kept = {}

    def other_worker():
        try:
            kept["second"] = apply_distillation(second, items("Second"))
        finally:
            connections.close_all()

    with transaction.atomic():  # the first worker's distillation, not yet committed
        kept["first"] = apply_distillation(first, items("First"))
        worker = threading.Thread(target=other_worker)
        worker.start()
        for _ in range(2_000):  # bounded: until the other one finished or waits its turn
            if not worker.is_alive() or sessions_waiting_on_a_lock("pg_advisory_xact_lock"):
                break
    worker.join(timeout=60)

    assert Proposal.objects.filter(source="conversation").count() == 3
    assert kept["first"]["action_items"] == 3 and kept["second"]["action_items"] == 0
    assert kept["second"]["dropped"] == [f"action {n}: 3 a day reached" for n in range(3)]


@pytest.mark.django_db
def test_an_action_item_the_intake_rejects_is_listed_dropped_not_kept(crew):
    """The summary (`converse`, the Stage) said "action items 1, dropped 0" for an item the
    intake had rejected: nothing had become work, and nothing said why."""
    conversation = war_room(["coordinator", "devops", "security"])
    Agent.objects.filter(slug="devops").update(enabled=False)
    item = {"agent": "devops", "title": "Rotate the keys", "step_kind": "analyze"}

    kept = apply_distillation(
        conversation, Distillation(memories=[], pairwise_drift=[], action_items=[item])
    )

    rejected = Proposal.objects.get()
    assert rejected.status == "rejected" and kept["action_items"] == 0
    assert kept["dropped"] == [f"action 0: P{rejected.id} rejected: {rejected.reason}"]
