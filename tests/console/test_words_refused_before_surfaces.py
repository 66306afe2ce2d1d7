"""Every surface that shows words for a decision says who refused the same words before, when,
on which step and why: the Stage's approvals inbox (the proposal's card and the held post's),
`opscore words list`, `opscore proposal list`, the API's words view and the admin."""

from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command

from missions.models import Step, WordsApproval, text_digest
from missions.words import refuse_words
from missions.worker import handle_one_step
from tests.factories import AgentFactory, make_approver, make_draft, make_step, propose

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"
WORDS = "go \u202eevil"


def held_post() -> Step:
    post = make_step("post_tweet", agent=AgentFactory(slug="publisher"))
    post.depends_on.add(make_draft(WORDS))
    handle_one_step("w1")
    return Step.objects.get(pk=post.pk)


@pytest.fixture
def refusal(db):
    """The words refused by bea on one post, with a reason a bidi override tries to turn: a
    reason is kept without it now (missions.words.refuse_words); one stored before that still
    has it, and is shown inert."""
    row = refuse_words(held_post().id, user=make_approver("bea"), reason="off-brand !")
    WordsApproval.objects.filter(pk=row.pk).update(reason="off-brand \u202e!")
    at = row.created_at.isoformat(timespec="seconds")
    return f"refused before by operator:bea on S{row.step_id} ({at}): off-brand ⟨U+202E⟩!"


def cli(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_cli_lists_the_refusal_under_the_words_of_a_held_post_and_a_proposal(refusal):
    held_post()
    publisher = AgentFactory(slug="publisher")
    draft = make_draft(WORDS)
    propose(publisher, steps=[{"kind": "post_tweet", "after_steps": [draft.id]}])
    propose(publisher, steps=[{"kind": "post_tweet", "payload": {"text": WORDS}}])

    words = cli("words", "list")
    proposals = cli("proposal", "list")

    assert f"  | go ⟨U+202E⟩evil\n  {refusal}\n" in words
    assert f"  S{draft.id} wrote: go ⟨U+202E⟩evil\n    {refusal}\n" in proposals
    assert f"  its words (sha256 {text_digest(WORDS)[:12]}) {refusal}\n" in proposals


def test_the_api_shows_the_refusal_on_the_words_and_the_proposal(client, settings, refusal):
    settings.OPS_API_TOKEN = TOKEN
    headers = {"Authorization": f"Bearer {TOKEN}"}
    post = held_post()
    posting = propose(
        AgentFactory(slug="publisher"), steps=[{"kind": "post_tweet", "payload": {"text": WORDS}}]
    )

    words = client.get(f"/api/ops/steps/{post.id}/words", headers=headers).json()
    card = client.get(f"/api/ops/proposals/{posting.id}", headers=headers).json()

    assert [n["by"] for n in words["refused_before"]] == ["operator:bea"]
    assert card["refused_before"] == {text_digest(WORDS): words["refused_before"]}


def test_the_stage_inbox_shows_the_refusal_on_both_cards(client, refusal):
    post = held_post()
    draft = make_draft(WORDS)
    posting = propose(
        AgentFactory(slug="publisher"), steps=[{"kind": "post_tweet", "after_steps": [draft.id]}]
    )
    client.force_login(make_approver("cara"))

    panel = client.get("/stage/approvals").content.decode()

    held = panel[panel.find(f'id="words-approval-{post.id}"') :]
    proposed = panel[panel.find(f'id="approval-{posting.id}"') : panel.find("words-approval")]
    assert refusal in held and refusal in proposed
    assert posting.content_digest() in proposed


def test_the_admin_shows_the_refusal_on_the_proposal_and_the_step(client, refusal):
    post = held_post()
    draft = make_draft(WORDS)
    posting = propose(
        AgentFactory(slug="publisher"), steps=[{"kind": "post_tweet", "after_steps": [draft.id]}]
    )
    cara = make_approver("cara", staff=True)
    cara.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_step", "view_proposal"])
    )
    client.force_login(cara)

    step_page = client.get(f"/admin/missions/step/{post.id}/change/").content.decode()
    proposal_page = client.get(f"/admin/missions/proposal/{posting.id}/change/").content.decode()

    assert refusal in step_page and refusal in proposal_page


def test_an_approval_binds_the_refusals_its_card_showed(client, settings):
    """A refusal of the same words that landed after a card was shown left the card's digest
    as it was: the approval went through and was recorded as given "despite the earlier
    refusal", by someone who had never read it."""
    settings.OPS_API_TOKEN = TOKEN
    headers = {"Authorization": f"Bearer {TOKEN}"}
    post, other = held_post(), held_post()
    make_approver("bea"), make_approver("cara")
    url = f"/api/ops/steps/{post.id}/words"
    shown = client.get(url, headers=headers).json()

    refuse_words(other.id, user=make_approver("dan"), reason="off-brand")
    stale = client.post(
        f"{url[:-6]}/approve-words",
        {"as": "cara", "digest": shown["digest"]},
        content_type="application/json",
        headers=headers,
    )
    card = client.get(url, headers=headers).json()
    approved = client.post(
        f"{url[:-6]}/approve-words",
        {"as": "cara", "digest": card["digest"]},
        content_type="application/json",
        headers=headers,
    )

    assert shown["digest"] == text_digest(WORDS) and shown["refused_before"] == []
    assert stale.status_code == 409 and "refused by a person since" in stale.json()["error"]
    assert card["digest"] != shown["digest"] and len(card["refused_before"]) == 1
    assert approved.status_code == 200 and approved.json()["decision"] == "approved"
    assert (
        "despite the earlier refusal" in Step.objects.get(pk=post.pk).words_decisions.get().reason
    )
