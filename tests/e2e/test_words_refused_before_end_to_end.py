"""A refusal follows the words, through the API and the CLI as operators use them: bea refuses
the words a model drafted for one mission; another proposal would post exactly those words.
Cara's card from before the refusal no longer approves anything; the card she reloads (API and
`proposal list`) says who refused the words, when, where and why; her approval then, given
knowingly, says which refusal it overrode — and only then do the words go out."""

from io import StringIO

import pytest
from django.core.management import call_command

from missions.models import Publication, Step, WordsApproval
from missions.outbox import deliver_pending
from missions.worker import handle_one_step
from tests.factories import AgentFactory, make_approver

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"


@pytest.fixture
def api(client, settings):
    """The operators' script: GET a path, or POST it a JSON body, with the bearer token."""
    settings.OPS_API_TOKEN = TOKEN
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def call(path, body=None):
        if body is None:
            return client.get(path, headers=headers)
        return client.post(path, body, content_type="application/json", headers=headers)

    return call


def held_in_mission_one(api) -> Step:
    """Alice approves a draft and its post; the model drafts; the post waits for its words."""
    steps = [{"kind": "draft_tweet"}, {"kind": "post_tweet", "depends_on": [0]}]
    first = api("/api/ops/proposals", {"agent": "publisher", "title": "Hi", "steps": steps}).json()
    digest = api(f"/api/ops/proposals/{first['id']}").json()["digest"]
    api(f"/api/ops/proposals/{first['id']}/approve", {"as": "alice", "digest": digest})
    handle_one_step("w1")  # the model drafts
    handle_one_step("w1")  # the post is held for its words
    return Step.objects.get(kind="post_tweet")


def test_words_a_person_refused_reach_the_next_approver_with_the_refusal(api):
    AgentFactory(slug="publisher", max_concurrent_steps=10)
    for name in ("alice", "bea", "cara"):
        make_approver(name)
    post = held_in_mission_one(api)
    draft = post.depends_on.get()
    again = [{"kind": "post_tweet", "after_steps": [draft.id]}]
    second = api("/api/ops/proposals", {"agent": "publisher", "title": "Hi!", "steps": again})
    second = second.json()
    before = api(f"/api/ops/proposals/{second['id']}").json()

    api(f"/api/ops/steps/{post.id}/refuse-words", {"as": "bea", "reason": "off-brand"})
    stale = api(
        f"/api/ops/proposals/{second['id']}/approve", {"as": "cara", "digest": before["digest"]}
    )
    card = api(f"/api/ops/proposals/{second['id']}").json()
    out = StringIO()
    call_command("proposal", "list", stdout=out)
    [(words_digest, [refusal])] = card["refused_before"].items()
    approved = api(
        f"/api/ops/proposals/{second['id']}/approve", {"as": "cara", "digest": card["digest"]}
    )
    handle_one_step("w1")
    deliver_pending()

    assert stale.status_code == 409 and "refused before" in stale.json()["error"]
    assert before["refused_before"] == {} and card["digest"] != before["digest"]
    assert (refusal["step"], refusal["by"], refusal["reason"]) == (
        post.id,
        "operator:bea",
        "off-brand",
    )
    said = f"refused before by operator:bea on S{post.id} ({refusal['at']}): off-brand"
    assert f"S{draft.id} wrote: " in out.getvalue() and f"    {said}\n" in out.getvalue()
    assert approved.json()["status"] == "accepted"
    row = WordsApproval.objects.get(decision="approved")
    assert row.digest == words_digest and row.decided_by == "operator:cara"
    assert row.reason.endswith(f"approved despite the earlier refusal: {said}")
    assert Publication.objects.get().step_id == row.step_id != post.id
    assert card["written"] == {str(draft.id): [draft.artifacts.get().body]}
