"""An approval approves what it showed, through the API as an operator's script would: a
proposal to draft and post is approved while its card says the draft is not written; the
model drafts; the post waits for a person; she reads the words and approves exactly them; those
words, and no others, are what goes out."""

import pytest
from django.contrib.auth.models import Permission, User

from missions.models import OutboxMessage, Publication, Step, WordsApproval
from missions.outbox import deliver_pending
from missions.worker import handle_one_step
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"


def test_a_drafted_post_goes_out_only_with_the_words_a_person_approved(client, settings):
    settings.OPS_API_TOKEN = TOKEN
    headers = {"Authorization": f"Bearer {TOKEN}"}
    AgentFactory(slug="publisher", max_concurrent_steps=10)
    for name in ("alice", "bea"):
        user = User.objects.create_user(name, password="x")
        user.user_permissions.add(Permission.objects.get(codename="approve_proposal"))

    def api(path, body=None):
        if body is None:
            return client.get(path, headers=headers).json()
        return client.post(path, body, content_type="application/json", headers=headers).json()

    steps = [{"kind": "draft_tweet"}, {"kind": "post_tweet", "depends_on": [0]}]
    proposed = api("/api/ops/proposals", {"agent": "publisher", "title": "Say hi", "steps": steps})
    shown = api(f"/api/ops/proposals/{proposed['id']}")
    api(f"/api/ops/proposals/{proposed['id']}/approve", {"as": "alice", "digest": shown["digest"]})
    handle_one_step("w1")  # the model drafts
    handle_one_step("w1")  # the post: its words were never shown to anyone
    deliver_pending()
    post = Step.objects.get(kind="post_tweet")
    assert not OutboxMessage.objects.exists()

    words = api(f"/api/ops/steps/{post.id}/words")
    decided = api(
        f"/api/ops/steps/{post.id}/approve-words", {"as": "bea", "digest": words["digest"]}
    )
    handle_one_step("w1")
    deliver_pending()

    assert words["held"] and words["words"] and decided["decision"] == "approved"
    assert Publication.objects.get().body == words["words"]
    row = WordsApproval.objects.get()
    assert (row.step_id, row.decided_by, row.digest) == (post.id, "operator:bea", words["digest"])
