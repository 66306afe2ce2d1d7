"""A post held for its words is decided where proposals are: the API, the CLI, the Stage's
approvals inbox and the admin — each shows the words exactly (invisible characters named) with
their digest, and approves only the words with that digest."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command

from missions.models import Artifact, Step, text_digest
from tests.factories import AgentFactory, held_post, make_step

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"
WORDS = "go \u202eevil"


def approver(name="alice"):
    user = User.objects.create_user(name, password="x")
    user.user_permissions.add(Permission.objects.get(codename="approve_proposal"))
    return user


@pytest.fixture
def api(client, settings):
    settings.OPS_API_TOKEN = TOKEN

    def call(path, body=None):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if body is None:
            return client.get(path, headers=headers)
        return client.post(path, body, content_type="application/json", headers=headers)

    return call


def test_the_api_shows_the_words_and_approves_only_the_ones_with_that_digest(api):
    post = held_post(WORDS)
    approver()
    User.objects.create_user("bob", password="x")
    url = f"/api/ops/steps/{post.id}/approve-words"

    shown = api(f"/api/ops/steps/{post.id}/words").json()
    wrong = api(url, {"as": "alice", "digest": text_digest("go evil")})
    bob = api(url, {"as": "bob", "digest": shown["digest"]})
    bare = api(url, {"as": "alice"})
    missing = api("/api/ops/steps/999999/approve-words", {"as": "alice", "digest": "x"})
    right = api(url, {"as": "alice", "digest": shown["digest"]})
    again = api(url, {"as": "alice", "digest": shown["digest"]})

    assert (shown["words"], shown["shown"]) == (WORDS, "go ⟨U+202E⟩evil")
    assert shown["digest"] == text_digest(WORDS) and shown["held"] is True
    assert wrong.status_code == 409 and "not the ones shown to you" in wrong.json()["error"]
    assert bob.status_code == 403 and "bob can't" in bob.json()["error"]
    assert bare.status_code == 400 and "digest" in bare.json()["errors"]
    assert missing.status_code == 404
    assert right.status_code == 200 and right.json()["decision"] == "approved"
    assert again.status_code == 409 and "not waiting" in again.json()["error"]
    post.refresh_from_db()
    assert post.status == "queued"


def test_the_api_shows_a_posts_own_words_and_no_digest_where_none_are_written(api):
    """A post carrying its own text showed "words": "" with the sha256 of nothing, as if it
    would post nothing; one whose draft was not written yet showed that same digest."""
    held = held_post(WORDS)
    publisher = AgentFactory(slug="publisher")
    own = make_step("post_tweet", agent=publisher, payload={"text": "We shipped!"})
    draft = make_step("draft_tweet", agent=publisher)
    waiting = make_step("post_tweet", agent=publisher)
    waiting.depends_on.add(draft)

    mine = api(f"/api/ops/steps/{own.id}/words").json()
    unwritten = api(f"/api/ops/steps/{waiting.id}/words").json()
    drafted = api(f"/api/ops/steps/{held.id}/words").json()

    assert (mine["words"], mine["source"], mine["held"]) == ("We shipped!", "own", False)
    assert mine["digest"] == text_digest("We shipped!")
    assert (unwritten["words"], unwritten["source"], unwritten["digest"]) == ("", "none", "")
    assert (drafted["source"], drafted["digest"]) == ("draft", text_digest(WORDS))


def test_the_api_refuses_words_with_a_reason_and_the_step_fails(api):
    post = held_post(WORDS)
    approver()
    url = f"/api/ops/steps/{post.id}/refuse-words"

    reasonless = api(url, {"as": "alice", "reason": " "})
    refused = api(url, {"as": "alice", "reason": "reads wrong"})

    assert reasonless.status_code == 400 and "reason" in reasonless.json()["errors"]
    assert refused.status_code == 200 and refused.json()["decision"] == "refused"
    post.refresh_from_db()
    assert post.status == "failed" and "reads wrong" in post.last_error


def cli(*args):
    out = StringIO()
    call_command("words", *args, stdout=out)
    return out.getvalue()


def test_the_cli_lists_held_words_and_approves_them_by_digest(db):
    post = held_post(WORDS)
    approver()

    listed = json.loads(cli("list", "--json"))["held"]
    with pytest.raises(CommandError, match="not the ones shown to you"):
        cli("approve", str(post.id), "--digest", "0" * 64, "--as", "alice")
    said = json.loads(
        cli("approve", str(post.id), "--digest", listed[0]["digest"], "--as", "alice", "--json")
    )

    assert [(c["step"], c["shown"]) for c in listed] == [(post.id, "go ⟨U+202E⟩evil")]
    assert said == {"step": post.id, "decision": "approved", "digest": text_digest(WORDS)}
    assert "No post waits" in cli("list")


def test_the_cli_list_says_how_many_more_wait_than_it_shows(db, monkeypatch):
    """It stopped at its hundredth card without saying more posts waited."""
    monkeypatch.setattr("console.management.commands.words.LISTED", 1)
    first = held_post(WORDS)
    held_post("second words")

    listed = cli("list")
    as_json = json.loads(cli("list", "--json"))

    assert f"S{first.id} post_tweet" in listed and "second words" not in listed
    assert listed.endswith(
        "The oldest 1 of 2 posts held for their words; decide these to list the rest.\n"
    )
    assert (len(as_json["held"]), as_json["total"]) == (1, 2)


def test_the_cli_list_prints_no_words_over_others_nor_a_card_of_their_own(db):
    """A carriage return sent the terminal's cursor back, so 'Happy Friday' printed over the
    scam before it; a newline started a line that read as the list's own."""
    forged = "BUY SCAMCOIN\rHappy Friday, friends!\nS1 post_tweet (x) would post:\n  hi"
    post = held_post(forged)

    listed = cli("list")

    assert "\r" not in listed and "BUY SCAMCOIN⟨U+000D⟩Happy Friday" in listed
    assert f"S{post.id} post_tweet (publisher) would post:\n  | BUY" in listed
    assert "\n  | S1 post_tweet (x) would post:\n  |   hi\n" in listed


def test_the_stage_inbox_shows_the_held_words_counts_them_and_approves_them(client):
    post = held_post(WORDS)
    client.force_login(approver())

    panel = client.get("/stage/approvals").content.decode()
    strip = client.get("/stage/health").content.decode()
    answer = client.post(
        f"/stage/approvals/words/{post.id}",
        {"decision": "approve", "digest": text_digest(WORDS)},
    ).content.decode()

    assert f'id="words-approval-{post.id}"' in panel and "go ⟨U+202E⟩evil" in panel
    assert "\u202e" not in panel and "<b>1</b> awaiting a human" in panel
    assert text_digest(WORDS) in panel
    assert 'approvals</a> <b class="bad">1</b>' in strip
    assert f"S{post.id}: words approved" in answer
    assert Step.objects.get(pk=post.pk).status == "queued"


def test_the_admin_step_page_shows_the_words_and_approves_them(client):
    post = held_post(WORDS)
    alice = approver()
    alice.is_staff = True
    alice.save()
    alice.user_permissions.add(Permission.objects.get(codename="view_step"))
    client.force_login(alice)

    page = client.get(f"/admin/missions/step/{post.id}/change/").content.decode()
    client.post(
        f"/admin/missions/step/{post.id}/words/",
        {"decision": "approve", "digest": text_digest(WORDS)},
    )

    assert "go ⟨U+202E⟩evil" in page and text_digest(WORDS) in page
    assert "Approve these words" in page
    assert Step.objects.get(pk=post.pk).status == "queued"


def test_held_words_with_a_secret_in_them_are_withheld_from_every_surface(api, settings):
    settings.OPS_X_ACCESS_TOKEN = "x-token-0123456789abcdef"
    post = held_post("hello")
    Artifact.objects.create(
        step=post.depends_on.get(),
        kind="draft_tweet",
        title="t",
        body="key x-token-0123456789abcdef",
    )

    shown = api(f"/api/ops/steps/{post.id}/words").json()

    assert "x-token-0123456789abcdef" not in json.dumps(shown) + cli("list")
    assert shown["words"].startswith("[withheld")
