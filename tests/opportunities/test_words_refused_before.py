"""A person's refusal of words warns whoever is shown the same words next: before, it bound
only its own step, so another mission posting exactly those words reached the next approver
with nothing said, and was approved and posted as if nobody had refused them."""

import pytest

from missions.actions import DecisionRefused
from missions.decisions import approve_proposal
from missions.models import Step, WordsApproval, text_digest
from missions.words import approve_words, refuse_words, words_card
from missions.worker import handle_one_step
from opscore.actions import set_policy
from opscore.models import Event
from tests.factories import AgentFactory, make_approver, make_draft, make_step, propose

pytestmark = pytest.mark.django_db
WORDS = "Our launch is a scam-free zone"


def held_post(words=WORDS) -> Step:
    """A post in a mission of its own, held for the words of the draft it waits for."""
    post = make_step("post_tweet", agent=AgentFactory(slug="publisher"))
    post.depends_on.add(make_draft(words))
    handle_one_step("w1")
    post.refresh_from_db()
    assert post.blocked_code == "words_approval"
    return post


def refused(words=WORDS, reason="off-brand") -> WordsApproval:
    return refuse_words(held_post(words).id, user=make_approver("bea"), reason=reason)


def note(row: WordsApproval) -> dict:
    at = row.created_at.isoformat(timespec="seconds")
    return {"step": row.step_id, "by": "operator:bea", "at": at, "reason": "off-brand"}


def test_it_shows_an_earlier_refusal_on_the_words_card_of_another_post(db):
    refusal = refused()
    post = held_post()

    card = words_card(post)

    assert card["refused_before"] == [note(refusal)]
    assert words_card(held_post("other words"))["refused_before"] == []


def test_it_names_the_earlier_refusal_when_a_person_approves_those_words(db):
    refusal = refused()
    post = held_post()

    shown = words_card(post)["digest"]  # binds the words and the refusal shown beside them

    row = approve_words(post.id, user=make_approver("cara"), digest=shown)

    said = f"refused before by operator:bea on S{refusal.step_id} ("
    assert row.reason.startswith(f"approved despite the earlier refusal: {said}")
    assert row.reason.endswith("): off-brand")
    assert Event.objects.get(kind="step.words_approved").summary == row.reason


def test_a_proposal_card_shows_the_refusal_of_the_draft_it_would_post(db):
    draft = make_draft(WORDS)
    posting = propose(
        AgentFactory(slug="publisher"), steps=[{"kind": "post_tweet", "after_steps": [draft.id]}]
    )
    refusal = refused()

    card = posting.as_json()
    readable = posting.readable_steps()[0]["written"][0]["words"]

    assert card["refused_before"] == {text_digest(WORDS): [note(refusal)]}
    assert readable == [{"text": WORDS, "refused_before": [note(refusal)]}]


def test_a_proposal_card_shows_the_refusal_of_a_posts_own_text(db):
    posting = propose(
        AgentFactory(slug="publisher"), steps=[{"kind": "post_tweet", "payload": {"text": WORDS}}]
    )
    refusal = refused()

    assert posting.as_json()["refused_before"] == {text_digest(WORDS): [note(refusal)]}
    assert posting.readable_steps()[0]["refused_before"] == [note(refusal)]


def test_an_approval_of_a_card_shown_before_the_refusal_is_refused(db):
    draft = make_draft(WORDS)
    posting = propose(
        AgentFactory(slug="publisher"), steps=[{"kind": "post_tweet", "after_steps": [draft.id]}]
    )
    shown_before = posting.content_digest()
    refused()

    with pytest.raises(DecisionRefused, match="it now shows words a person refused before"):
        approve_proposal(posting, actor="operator:cara", shown_digest=shown_before)

    posting.refresh_from_db()
    assert posting.status == "pending" and posting.content_digest() != shown_before


def test_an_approval_naming_no_card_does_not_approve_words_a_person_refused(db):
    """`proposal approve ID` without --digest approved a post's own text that a colleague had
    refused elsewhere: nobody was shown the refusal, yet the words went out."""
    posting = propose(
        AgentFactory(slug="publisher"), steps=[{"kind": "post_tweet", "payload": {"text": WORDS}}]
    )
    refused()

    with pytest.raises(DecisionRefused, match="words a person refused before"):
        approve_proposal(posting, actor="operator:cara")
    approve_proposal(posting, actor="operator:cara", shown_digest=posting.content_digest())

    posting.refresh_from_db()
    assert posting.status == "accepted"


def test_an_informed_proposal_approval_names_the_refusal_it_approved_words_despite(db):
    draft = make_draft(WORDS)
    posting = propose(
        AgentFactory(slug="publisher"), steps=[{"kind": "post_tweet", "after_steps": [draft.id]}]
    )
    refusal = refused()

    approve_proposal(posting, actor="operator:cara", shown_digest=posting.content_digest())

    row = WordsApproval.objects.get(decision="approved")
    assert row.reason == (
        f"shown on P{posting.id}'s card when operator:cara approved it; approved despite the "
        f"earlier refusal: refused before by operator:bea on S{refusal.step_id} "
        f"({note(refusal)['at']}): off-brand"
    )


def test_a_post_of_words_refused_before_waits_for_a_person_where_posts_pass_by_themselves(db):
    set_policy("auto_approve", {"enabled": True, "allowed_step_kinds": ["post_tweet"]}, actor="t")
    refused()
    publisher = AgentFactory(slug="publisher")

    again = propose(publisher, steps=[{"kind": "post_tweet", "payload": {"text": WORDS}}])
    other = propose(publisher, steps=[{"kind": "post_tweet", "payload": {"text": "Hello"}}])

    assert (again.status, other.status) == ("pending", "accepted")
