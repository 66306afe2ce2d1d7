"""A slot the schedule does not hold is a row with the reason, as an unrolled slot is: the
Stage's list of today's conversations shows it, and it is decided once per slot."""

import random
from datetime import UTC, datetime

import pytest

from opscore.actions import set_policy
from opscore.models import Agent
from roundtable.lifecycle import request_conversation
from roundtable.models import Conversation
from roundtable.scheduling import schedule_tick

pytestmark = pytest.mark.django_db
EVENING = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


class Lucky(random.Random):
    def random(self):
        return 0.0


def test_a_slot_past_the_daily_cap_is_kept_skipped_with_the_reason(crew, settings, clock):
    settings.TIME_ZONE = "UTC"  # the slots' days are UTC's here: test_schedule_time_zone for others
    clock.midday()  # the conversation is the day's when the cap counts it
    set_policy("roundtable_policy", {"enabled": True, "max_daily_conversations": 1}, actor="t")
    request_conversation("debate", ["devops", "security"], "x", source="api")

    tick = schedule_tick(EVENING, Lucky(1))

    skipped = Conversation.objects.get(slot_hour=18)
    assert tick == {"enqueued": 0, "reason": "daily cap 1 reached"}
    assert (skipped.status, skipped.error) == ("skipped", "daily cap 1 reached")
    assert schedule_tick(EVENING, Lucky(1))["reason"] == "slot already handled"


def test_a_slot_too_few_agents_can_hold_is_kept_skipped_with_the_reason(crew):
    Agent.objects.filter(slug__in=["research", "security"]).update(enabled=False)

    tick = schedule_tick(EVENING.replace(hour=6), Lucky(1))

    skipped = Conversation.objects.get(slot_hour=6)
    assert tick == {"enqueued": 0, "reason": "standup needs 4-6 different agents"}
    assert (skipped.status, skipped.format) == ("skipped", "standup")
    assert skipped.error == "standup needs 4-6 different agents"
