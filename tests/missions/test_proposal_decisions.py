"""A pending proposal decided from the CLI and the API, four-eyes holding as on the Stage; and
the approvals inbox and strip counting coding runs that wait for a person."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command

from coding.models import CodingRun
from missions.models import Artifact, Proposal
from tests.coding_support import new_run
from tests.factories import AgentFactory, make_step, propose

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"


@pytest.fixture
def pending(db):
    return propose(AgentFactory(slug="publisher"), "post_tweet")


def approver(name="alice"):
    user = User.objects.create_user(name, password="x")
    user.user_permissions.add(Permission.objects.get(codename="approve_proposal"))
    return user


def cli(*args):
    out = StringIO()
    call_command("proposal", *args, stdout=out)
    return out.getvalue()


def test_an_approver_approves_a_proposal_from_the_cli(pending):
    approver()
    assert pending.status == "pending"

    out = cli("approve", str(pending.id), "--as", "alice")

    pending.refresh_from_db()
    assert pending.status == "accepted" and pending.decided_by == "operator:alice"
    assert f"P{pending.id} accepted → M{pending.mission.id}" in out


def test_the_cli_refuses_someone_without_the_permission(pending):
    User.objects.create_user("bob", password="x")

    with pytest.raises(CommandError, match="needs: can approve proposals — bob can't"):
        cli("approve", str(pending.id), "--as", "bob")
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_the_cli_rejects_with_a_reason_and_lists_what_waits(pending):
    approver()
    assert f"P{pending.id} publisher" in cli("list")

    out = cli("reject", str(pending.id), "--as", "alice", "--reason", "not today", "--json")

    assert json.loads(out)["status"] == "rejected"
    assert "Nothing waits for a human." in cli("list")


def test_the_api_approves_as_a_named_approver(client, settings, pending):
    settings.OPS_API_TOKEN = TOKEN
    approver()
    headers = {"Authorization": f"Bearer {TOKEN}"}

    answer = client.post(
        f"/api/ops/proposals/{pending.id}/approve",
        {"as": "alice"},
        content_type="application/json",
        headers=headers,
    )

    assert answer.status_code == 200
    assert answer.json()["status"] == "accepted" and answer.json()["mission_id"]


def test_the_api_refuses_the_author_and_a_missing_token(client, settings, pending):
    settings.OPS_API_TOKEN = TOKEN
    Proposal.objects.filter(pk=pending.pk).update(operator=approver())
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"/api/ops/proposals/{pending.id}/approve"

    mine = client.post(url, {"as": "alice"}, content_type="application/json", headers=headers)
    anonymous = client.post(url, {"as": "alice"}, content_type="application/json")
    nobody = client.post(url, {}, content_type="application/json", headers=headers)

    assert mine.status_code == 403 and "alice proposed this" in mine.json()["error"]
    assert anonymous.status_code == 401
    assert nobody.status_code == 400 and "as" in nobody.json()["errors"]
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_the_api_answers_a_missing_proposal_404_and_a_reasonless_rejection_400(
    client, settings, pending
):
    settings.OPS_API_TOKEN = TOKEN
    approver()
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def decide(path, body):
        return client.post(path, body, content_type="application/json", headers=headers)

    missing = decide("/api/ops/proposals/999999/approve", {"as": "alice"})
    reasonless = decide(f"/api/ops/proposals/{pending.id}/reject", {"as": "alice", "reason": " "})

    assert missing.status_code == 404 and missing.json()["error"] == "no proposal P999999"
    assert reasonless.status_code == 400 and "reason" in reasonless.json()["errors"]
    pending.refresh_from_db()
    assert pending.status == "pending"


def waiting_coding_run(git_repo):
    run = new_run(git_repo, "@greet")
    signed = {"decision": "complete", "by": "devops", "sha": "abc123"}
    CodingRun.objects.filter(pk=run.pk).update(
        status="waiting_for_review", head_sha="abc123", review=signed
    )
    return run


def test_the_inbox_never_says_nothing_waits_above_a_waiting_coding_run(client, git_repo):
    run = waiting_coding_run(git_repo)

    panel = client.get("/stage/approvals").content.decode()

    assert f'id="coding-approval-{run.id}"' in panel
    assert "Nothing waits for a human" not in panel
    assert "<b>1</b> awaiting a human" in panel


def test_the_strip_counts_coding_runs_waiting_for_approval(client, git_repo, pending):
    waiting_coding_run(git_repo)

    strip = client.get("/stage/health").content.decode()

    assert 'approvals</a> <b class="bad">2</b>' in strip


def test_the_api_and_the_cli_show_what_an_approval_would_run_and_bind_to_it(
    client, settings, pending
):
    """Before: neither the API nor `proposal list` showed a pending proposal's steps or its
    digest, so a client approving over the API approved content it had never been shown, and
    could not bind its decision to it."""
    settings.OPS_API_TOKEN = TOKEN
    approver()
    headers = {"Authorization": f"Bearer {TOKEN}"}

    shown = client.get(f"/api/ops/proposals/{pending.id}", headers=headers)
    listed = json.loads(cli("list", "--json"))["pending"][0]

    assert shown.status_code == 200
    assert shown.json()["steps"] == pending.proposed_steps == listed["steps"]
    assert shown.json()["digest"] == pending.content_digest() == listed["digest"]
    assert f"digest {pending.content_digest()}" in cli("list")
    assert client.get(f"/api/ops/proposals/{pending.id}").status_code == 401
    assert client.get("/api/ops/proposals/999999", headers=headers).status_code == 404
    stale = client.post(
        f"/api/ops/proposals/{pending.id}/approve",
        {"as": "alice", "digest": "0" * 64},
        content_type="application/json",
        headers=headers,
    )
    assert stale.status_code == 409 and "changed after it was shown" in stale.json()["error"]
    answer = client.post(
        f"/api/ops/proposals/{pending.id}/approve",
        {"as": "alice", "digest": shown.json()["digest"]},
        content_type="application/json",
        headers=headers,
    )
    assert answer.status_code == 200 and answer.json()["status"] == "accepted"


def test_the_api_and_the_cli_show_the_draft_words_an_approval_with_their_digest_posts(
    client, settings
):
    """Before: the digest covered the words a post would take from the draft it waits for,
    but neither the API nor `proposal list` showed them, so an approval naming it approved
    words its client had never been shown."""
    settings.OPS_API_TOKEN = TOKEN
    publisher = AgentFactory(slug="publisher")
    draft = make_step("draft_tweet", agent=publisher, status="succeeded")
    Artifact.objects.create(step=draft, kind="draft_tweet", title="t", body="We \u202eshipped")
    posting = propose(publisher, steps=[{"kind": "post_tweet", "after_steps": [draft.id]}])
    headers = {"Authorization": f"Bearer {TOKEN}"}

    shown = client.get(f"/api/ops/proposals/{posting.id}", headers=headers).json()

    assert shown["written"] == {str(draft.id): ["We \u202eshipped"]}
    assert shown["digest"] == posting.content_digest()
    assert f"  S{draft.id} wrote: We ⟨U+202E⟩shipped" in cli("list")


def test_the_cli_list_shows_every_field_the_digest_it_prints_binds(db):
    """`proposal list` printed "P3 publisher: Post our hello tweet [post_tweet]" and a digest
    to approve "only this" with: the words the post would publish, a crawl's address, a step's
    order and delay were never shown, so an approval bound by that digest approved content its
    approver had not read."""
    publisher = AgentFactory(slug="publisher")
    steps = [
        {"kind": "post_tweet", "payload": {"text": "We \u202eshipped\nline two"}},
        {
            "kind": "crawl",
            "payload": {"url": "https://example.com/a"},
            "depends_on": [0],
            "delay_seconds": 120,
        },
    ]
    posting = propose(publisher, steps=steps)

    out = cli("list")

    assert posting.status == "pending"
    assert "  step 1 post_tweet by publisher, priority 100, up to 3 attempts\n" in out
    assert "    text: We ⟨U+202E⟩shipped\n          line two\n" in out
    assert "  step 2 crawl by publisher after step 1, 2 min (120 s) after approval" in out
    assert "    url: https://example.com/a\n" in out
    assert out.index("url: https://example.com/a") < out.index(posting.content_digest())


def test_the_cli_list_says_how_many_more_wait_than_it_shows(db, monkeypatch):
    """It stopped at its hundredth proposal without saying more waited for a person."""
    monkeypatch.setattr("missions.management.commands.proposal.LISTED", 1)
    agent = AgentFactory(slug="publisher")
    first = propose(agent, "deploy", title="first")
    second = propose(agent, "deploy", title="second")

    listed = cli("list")
    as_json = json.loads(cli("list", "--json"))

    assert f"P{first.id} publisher: first" in listed and f"P{second.id}" not in listed
    assert listed.endswith(
        "The oldest 1 of 2 proposals waiting for a human; decide these to list the rest.\n"
    )
    assert ([p["id"] for p in as_json["pending"]], as_json["total"]) == ([first.id], 2)


def test_the_cli_and_the_api_say_why_a_proposal_was_never_auto_approved(client, settings):
    """The Stage's card says 'Never auto-approved: <why>' (a crawled page, a runtime's words);
    an approver reading `proposal list` or the API's proposal was not told."""
    from missions.actions import submit_proposal

    settings.OPS_API_TOKEN = TOKEN
    AgentFactory(slug="devops")
    why = "cites untrusted content from https://evil.example/ (artifact 7)"
    data = {"agent": "devops", "title": "Deploy billing", "steps": [{"kind": "analyze"}]}
    waiting = submit_proposal(data, source="api", untrusted_reason=why).proposal
    headers = {"Authorization": f"Bearer {TOKEN}"}

    shown = client.get(f"/api/ops/proposals/{waiting.id}", headers=headers).json()
    listed = cli("list")

    assert shown["untrusted_reason"] == why
    assert json.loads(cli("list", "--json"))["pending"][0]["untrusted_reason"] == why
    assert f"  never auto-approved: {why}\n" in listed
