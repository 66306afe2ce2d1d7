"""OPS_TALK_PER_HOUR holds per credential: every name an API caller gives spends the one
token's allowance, a Stage or CLI operator spends their own; concurrent messages wait their
sender's turn, so the count never runs past the limit, and a refusal is kept as an event."""

import json
import threading

import httpx2
import pytest
from django.db import connection, connections, transaction
from django.test import Client

from missions.talk import TalkRefused
from missions.threads import post_comment
from opscore.actions import record_event
from opscore.db import AdvisoryLock
from opscore.llm_providers import AnthropicProvider
from opscore.models import Event
from tests.factories import OperatorFactory, make_step
from tests.opscore.test_llm_providers import anthropic_reply

TOKEN = "test-token-0123456789-0123456789"
WAITING_FOR_AN_ADVISORY_LOCK = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
)


def api_comment(client, mission_id, name):
    return client.post(
        f"/api/ops/threads/mission/{mission_id}",
        data=json.dumps({"text": "status?", "actor": name}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


@pytest.mark.django_db
def test_every_name_an_api_caller_makes_up_spends_the_one_tokens_allowance(client, agent, settings):
    settings.OPS_API_TOKEN, settings.OPS_TALK_PER_HOUR = TOKEN, 2
    step = make_step("analyze", agent=agent)

    answers = [api_comment(client, step.mission_id, name).status_code for name in "abc"]

    assert answers == [201, 201, 400]
    refused = api_comment(client, step.mission_id, "someone-new")
    assert refused.status_code == 400 and "this hour" in refused.json()["error"]
    assert Event.objects.filter(kind="talk.refused", actor="api:someone-new").exists()


@pytest.mark.django_db
def test_stage_operators_each_have_their_own_allowance_apart_from_the_tokens(
    client, agent, settings
):
    settings.OPS_API_TOKEN, settings.OPS_TALK_PER_HOUR = TOKEN, 1
    step = make_step("analyze", agent=agent)
    page = f"/stage/threads/mission/{step.mission_id}/comment"
    ann, bob = Client(), Client()
    ann.force_login(OperatorFactory(username="ann"))
    bob.force_login(OperatorFactory(username="bob"))

    assert api_comment(client, step.mission_id, "ann").status_code == 201
    assert ann.post(page, {"text": "one"}).status_code == 302
    assert bob.post(page, {"text": "one"}).status_code == 302
    assert ann.post(page, {"text": "two"}).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_a_message_waits_for_its_senders_turn_and_counts_the_one_before_it(agent, settings):
    settings.OPS_API_TOKEN, settings.OPS_TALK_PER_HOUR = TOKEN, 1
    step = make_step("analyze", agent=agent)
    answered = []

    def second_caller():
        try:
            answered.append(api_comment(Client(), step.mission_id, "fresh-name"))
        finally:
            connections.close_all()

    with transaction.atomic():  # another request, mid-way: its counted message not committed
        with connection.cursor() as cursor:
            key = f"{AdvisoryLock.SENDER_PREFIX}api:*"
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])
        record_event("thread.comment", "api:first on M1: status?", actor="api:first")
        caller = threading.Thread(target=second_caller)
        caller.start()
        wait_until(lambda: not caller.is_alive() or waiting_for_a_lock())
    caller.join()

    assert answered[0].status_code == 400, answered[0].content
    assert "the API token (every api: name) sent 1 messages" in answered[0].json()["error"]
    refused = Event.objects.get(kind="talk.refused")
    assert refused.actor == "api:fresh-name" and "this hour" in refused.payload["reason"]
    assert Event.objects.filter(kind="thread.comment").count() == 1


def waiting_for_a_lock() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute(WAITING_FOR_AN_ADVISORY_LOCK)
        return cursor.fetchone()[0] > 0


def wait_until(condition, tries=20_000):
    """Poll a condition (each try a query's round trip); a bound so a bug fails, not hangs."""
    for _ in range(tries):
        if condition():
            return
    raise AssertionError("the condition never held")


@pytest.mark.django_db(transaction=True)
def test_the_agents_reply_is_asked_for_outside_the_counting_transaction(
    agent, settings, monkeypatch
):
    held = []

    def handler(request):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND pid = pg_backend_pid()"
            )
            held.append((cursor.fetchone()[0], connection.in_atomic_block))
        return anthropic_reply("On it.")

    provider = AnthropicProvider("sk-test", transport=httpx2.MockTransport(handler))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: provider)
    step = make_step("analyze", agent=agent)

    remark = post_comment("mission", step.mission_id, actor="operator:ann", text="status?")

    assert remark.replies.get().text == "On it."
    assert held == [(0, False)]


@pytest.mark.django_db
def test_a_refusal_inside_the_counting_transaction_is_still_recorded(agent, settings):
    settings.OPS_TALK_PER_HOUR = 1
    step = make_step("analyze", agent=agent)
    post_comment("mission", step.mission_id, actor="operator:ann", text="one")

    with pytest.raises(TalkRefused, match="operator:ann sent 1 messages this hour"):
        post_comment("mission", step.mission_id, actor="operator:ann", text="two")

    refused = Event.objects.get(kind="talk.refused")
    assert refused.payload["reason"].startswith("operator:ann sent 1 messages")
    assert "two" not in json.dumps(refused.payload)
