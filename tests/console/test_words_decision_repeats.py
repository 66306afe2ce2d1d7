"""A held post is decided once, on the words that were shown: through the API, a second
approval or refusal, an approval after a refusal (or the reverse), an approval of words that
changed since they were shown, and the loser of two approvals at once are each a 409 saying
why, and the words are approved (or refused) exactly once."""

import json
import threading
import time

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection, transaction
from django.test import Client

from missions.models import Artifact, Step, WordsApproval
from missions.words import decide_words_as
from tests.factories import held_post

TOKEN = "test-token-0123456789-0123456789"


def approvers(*names):
    for name in names:
        user = User.objects.create_user(name, password="x")
        user.user_permissions.add(Permission.objects.get(codename="approve_proposal"))


def decide(client, step_id: int, verb: str, **body):
    return client.post(
        f"/api/ops/steps/{step_id}/{verb}",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def shown_digest(client, step_id: int) -> str:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return client.get(f"/api/ops/steps/{step_id}/words", headers=headers).json()["digest"]


@pytest.fixture
def held(db, settings):
    settings.OPS_API_TOKEN = TOKEN
    approvers("alice", "carol")
    return held_post("We shipped!")


APPROVE, REFUSE = "approve-words", "refuse-words"


@pytest.mark.parametrize(
    "first, then, said",
    [
        (APPROVE, APPROVE, "is queued, not waiting for its words"),
        (APPROVE, REFUSE, "is queued, not waiting for its words"),
        (REFUSE, REFUSE, "is failed, not waiting for its words"),
        (REFUSE, APPROVE, "is failed, not waiting for its words"),
    ],
)
def test_a_held_post_is_decided_once(client, held, first, then, said):
    digest = shown_digest(client, held.id)
    body = {"digest": digest} if first == APPROVE else {"reason": "off-brand"}
    assert decide(client, held.id, first, **{"as": "alice"}, **body).status_code == 200

    body = {"digest": digest} if then == APPROVE else {"reason": "off-brand"}
    second = decide(client, held.id, then, **{"as": "carol"}, **body)

    assert second.status_code == 409 and said in second.json()["error"]
    assert "\n" not in second.json()["error"]
    assert WordsApproval.objects.filter(step=held).count() == 1


def test_words_changed_since_they_were_shown_are_not_approved(client, held):
    digest = shown_digest(client, held.id)
    draft = held.depends_on.get()
    Artifact.objects.create(step=draft, kind="draft_tweet", title="t", body="We shipped! Buy now")

    stale = decide(client, held.id, APPROVE, **{"as": "alice", "digest": digest})

    assert stale.status_code == 409 and "not the ones shown to you" in stale.json()["error"]
    assert not WordsApproval.objects.exists()
    assert Step.objects.get(pk=held.pk).status == "blocked"


def until(predicate, seconds: float = 30) -> None:
    """`wait_for` without closing the connection: this one holds a transaction open."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "the second approval never waited on the first"
        time.sleep(0.02)


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot per transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_of_two_approvals_at_once_one_approves_and_the_other_is_told_why(settings):
    settings.OPS_API_TOKEN = TOKEN
    approvers("alice", "carol")
    held = held_post("We shipped!")
    digest = shown_digest(Client(), held.id)
    answers = []

    def carol_approves():
        try:
            answers.append(decide(Client(), held.id, APPROVE, **{"as": "carol", "digest": digest}))
        finally:
            connection.close()

    carol = threading.Thread(target=carol_approves)
    with transaction.atomic():  # alice's approval holds the step until it commits
        decide_words_as(held.id, "alice", approve=True, digest=digest)
        carol.start()
        until(waiting_on_a_lock)
    carol.join()

    assert answers[0].status_code == 409
    assert "is queued, not waiting for its words" in answers[0].json()["error"]
    assert list(WordsApproval.objects.values_list("decided_by", flat=True)) == ["operator:alice"]
