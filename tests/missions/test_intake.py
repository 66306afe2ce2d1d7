"""The single intake: every proposal enters through submit_proposal, in the tutorial's order."""

import pytest

from missions.actions import DecisionRefused, submit_proposal
from missions.decisions import approve_proposal, reject_proposal
from missions.models import Mission, Proposal, ProposalSource, Step
from missions.schemas import ProposalInvalid
from missions.step_actions import retry_step
from opscore.actions import set_policy
from opscore.models import Event
from tests.factories import AgentFactory, api_propose, make_step, propose

pytestmark = pytest.mark.django_db


def test_it_auto_approves_allowed_kinds_into_a_mission_with_queued_steps(agent):
    proposal = propose(agent, "analyze", "crawl")

    assert proposal.status == "accepted"
    mission = Mission.objects.get(proposal=proposal)
    assert [s.kind for s in mission.steps.all()] == ["analyze", "crawl"]
    assert set(mission.steps.values_list("status", flat=True)) == {"queued"}
    event = Event.objects.get(kind="proposal.accepted")
    assert event.mission == mission and event.proposal == proposal


def test_it_leaves_a_proposal_pending_when_a_kind_is_not_auto_approved(agent):
    proposal = propose(agent, "analyze", "post_tweet")

    assert proposal.status == "pending"
    assert not Mission.objects.exists()
    assert Event.objects.filter(kind="proposal.pending", proposal=proposal).exists()


def test_it_never_auto_approves_deploy_even_if_nothing_else_is_asked(agent):
    assert propose(agent, "deploy").status == "pending"


def test_it_leaves_everything_pending_when_auto_approve_is_disabled(agent):
    set_policy("auto_approve", {"enabled": False}, actor="test")

    assert propose(agent, "analyze").status == "pending"


def test_a_full_tweet_quota_rejects_with_its_reason_and_queues_nothing(agent, operator):
    set_policy("x_daily_quota", {"limit": 1}, actor="test")
    first = propose(agent, "post_tweet")
    approve_proposal(first, actor="operator:test")

    second = propose(agent, "post_tweet")

    second.refresh_from_db()
    assert second.status == "rejected"
    assert second.rejection_code == "cap_gate"
    assert second.reason == "post_tweet: quota full (1/1)"
    assert Step.objects.filter(kind="post_tweet").count() == 1
    assert not Mission.objects.filter(proposal=second).exists()
    rejection = Event.objects.get(kind="proposal.rejected", proposal=second)
    assert rejection.summary == second.reason


def test_the_content_gate_counts_what_the_proposal_itself_asks_for(agent):
    set_policy("content_policy", {"enabled": True, "max_drafts_per_day": 2}, actor="test")

    proposal = propose(agent, "write_content", "write_content", "write_content")

    assert proposal.status == "rejected"
    assert "3 more would exceed the quota (0/2 used)" in proposal.reason


def test_a_disabled_content_policy_refuses_writing(agent):
    set_policy("content_policy", {"enabled": False, "max_drafts_per_day": 8}, actor="test")

    assert propose(agent, "write_content").reason == "write_content: content_policy is disabled"


def test_the_deploy_gate_follows_its_policy(agent):
    set_policy("deploy_policy", {"enabled": False, "max_per_day": 3}, actor="test")

    assert propose(agent, "deploy").status == "rejected"


def test_a_disabled_agent_is_refused_at_the_door():
    agent = AgentFactory(enabled=False)

    proposal = propose(agent, "analyze")

    assert (proposal.status, proposal.rejection_code) == ("rejected", "agent_disabled")
    assert not Step.objects.exists()


def test_the_daily_limit_rejects_once_reached_and_refusals_do_not_count():
    agent = AgentFactory(daily_proposal_limit=2)
    propose(agent, "analyze")
    propose(agent, "analyze")

    third = propose(agent, "analyze")
    fourth = propose(agent, "analyze")

    assert third.reason == "Daily proposal limit reached (2/2)"
    assert fourth.reason == "Daily proposal limit reached (2/2)"
    assert Mission.objects.count() == 2


def test_bad_input_writes_nothing(agent):
    with pytest.raises(ProposalInvalid) as invalid:
        submit_proposal(
            {"agent": agent.slug, "title": "", "steps": [{"kind": "teleport"}]},
            source=ProposalSource.API,
        )

    assert set(invalid.value.errors) == {"title", "steps.0.kind"}
    assert not Proposal.objects.exists()
    assert not Event.objects.exists()


def test_an_unknown_agent_is_bad_input(db):
    with pytest.raises(ProposalInvalid) as invalid:
        submit_proposal(
            {"agent": "nobody", "title": "x", "steps": [{"kind": "analyze"}]},
            source=ProposalSource.API,
        )

    assert invalid.value.errors == {"agent": ["unknown agent 'nobody'"]}


def test_dependencies_must_point_at_earlier_steps(agent):
    """Answered under the field's own path, as every other field error is (not `body`)."""
    with pytest.raises(ProposalInvalid) as invalid:
        propose(agent, "analyze", steps=[{"kind": "analyze", "depends_on": [0]}])

    assert invalid.value.errors == {
        "steps.0.depends_on": ["0 must name an earlier step (none comes before step 0)"]
    }


def test_dependencies_become_rows(agent):
    steps = [{"kind": "crawl", "payload": {"url": "https://example.com/"}}]
    steps.append({"kind": "analyze", "depends_on": [0]})
    proposal = propose(agent, steps=steps)

    crawl, analyze = Mission.objects.get(proposal=proposal).steps.all()
    assert list(analyze.depends_on.all()) == [crawl]


@pytest.mark.parametrize("field", ["depends_on", "after_steps"])
def test_a_dependency_named_twice_is_a_400_not_a_500(client, settings, agent, field):
    """[0, 0] passed every check, then its second link broke step_dependency_unique inside
    the intake's transaction: the API answered 500 (agentbus enqueue-job a traceback)."""
    earlier = make_step(agent=agent) if field == "after_steps" else None
    target = earlier.id if earlier else 0
    steps = [{"kind": "analyze"}, {"kind": "analyze", field: [target, target]}]
    body = {"agent": agent.slug, "title": "twice", "steps": steps}

    answer = api_propose(client, settings, body)

    assert answer.status_code == 400
    assert answer.json()["errors"] == {f"steps.1.{field}": [f"{target} is named twice"]}
    assert not Proposal.objects.filter(title="twice").exists()


@pytest.mark.parametrize("ended", ["failed", "dead", "cancelled"])
def test_a_step_waiting_on_one_that_ended_unsuccessfully_is_cancelled_saying_why(agent, ended):
    """It can never run: left queued, it waited without a word (its mission never ending),
    where a step that was waiting when that one ended is cancelled naming it."""
    earlier = make_step(agent=agent, status=ended)
    steps = [{"kind": "analyze", "after_steps": [earlier.id]}, {"kind": "analyze"}]
    steps.append({"kind": "analyze", "depends_on": [0]})
    data = {"agent": agent.slug, "title": "too late", "steps": steps}

    mission = Mission.objects.get(proposal=submit_proposal(data, source="api").proposal)

    waiting, free, behind = mission.steps.order_by("position")
    assert (waiting.status, behind.status, free.status) == ("cancelled", "cancelled", "queued")
    assert waiting.last_error == behind.last_error == f"dependency S{earlier.id} ended {ended}"


def test_a_step_waiting_on_a_failed_one_runs_again_when_that_one_is_retried(agent):
    earlier = make_step(agent=agent, status="failed", attempt_count=3, max_attempts=3)
    data = {"agent": agent.slug, "title": "t", "steps": [{"kind": "analyze"}]}
    data["steps"][0]["after_steps"] = [earlier.id]
    waiting = Step.objects.get(mission__proposal=submit_proposal(data, source="api").proposal)

    retry_step(earlier, actor="operator:ann")

    waiting.refresh_from_db()
    assert (waiting.status, waiting.mission.status) == ("queued", "running")


def test_a_repeated_dedupe_key_returns_the_proposal_on_file(agent):
    data = {"agent": agent.slug, "title": "once", "steps": [{"kind": "analyze"}]}
    first = submit_proposal(data | {"dedupe_key": "k1"}, source=ProposalSource.API)
    again = submit_proposal(data | {"dedupe_key": "k1"}, source=ProposalSource.API)

    assert first.created and not again.created
    assert again.proposal.id == first.proposal.id
    assert Mission.objects.count() == 1


def test_a_mission_records_the_policy_versions_it_was_approved_under(agent):
    set_policy("auto_approve", {"enabled": True, "allowed_step_kinds": ["crawl"]}, actor="t")
    set_policy("auto_approve", {"enabled": True, "allowed_step_kinds": ["analyze"]}, actor="t")

    proposal = propose(agent, "analyze")

    assert Mission.objects.get(proposal=proposal).policy_versions["auto_approve"] == 2


def test_lineage_walks_from_step_back_to_the_event_that_caused_it(agent):
    cause = Event.objects.create(kind="mission.failed", title="it broke")
    data = {"agent": agent.slug, "title": "diagnose", "steps": [{"kind": "analyze"}]}

    result = submit_proposal(data, source=ProposalSource.REACTION, cause_event=cause)

    step = Step.objects.get(mission__proposal=result.proposal)
    assert step.mission.proposal.cause_event == cause
    assert step.mission.proposal.source == "reaction"


def test_a_human_approval_runs_the_gates_again(agent):
    set_policy("x_daily_quota", {"limit": 1}, actor="test")
    waiting = propose(agent, "post_tweet", title="first")
    also_waiting = propose(agent, "post_tweet", title="second")
    approve_proposal(waiting, actor="operator:ann")

    late = approve_proposal(also_waiting, actor="operator:ann")

    assert late.status == "rejected"
    assert late.reason == "post_tweet: quota full (1/1)"
    assert late.decided_by == "operator:ann"


def test_a_human_rejection_needs_a_reason_and_a_pending_proposal(agent):
    pending = propose(agent, "deploy")
    with pytest.raises(DecisionRefused):
        reject_proposal(pending, actor="operator:ann", reason="  ")

    rejected = reject_proposal(pending, actor="operator:ann", reason="not this week")

    assert (rejected.status, rejected.reason) == ("rejected", "not this week")
    with pytest.raises(DecisionRefused):
        approve_proposal(rejected, actor="operator:ann")


def test_invisible_and_bidi_characters_are_stripped_from_titles(agent):
    from missions.actions import submit_proposal

    spoof = "Pay invoice \u202egnp.exe\u202c for \u200bACME"

    proposal = submit_proposal(
        {"agent": "devops", "title": spoof, "steps": [{"kind": "noop"}]}, source="api"
    ).proposal

    assert proposal.title == "Pay invoice gnp.exe for ACME"


WEB_URL = "an http:// or https:// address"
NO_PORT = "the URL's port is not a number from 1 to 65535"
NO_IDNA_NAME = (
    "the URL's host name is no international domain name"
    " (Codepoint U+2603 at position 1 of '☃' not allowed)"
)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "crawl needs url to read"),
        ({"url": "file:///etc/passwd"}, WEB_URL),
        ({"url": ["https://example.com"]}, "a string of at most 2000 characters"),
        ({"url": "http://news.example:99999/"}, f"{WEB_URL} ({NO_PORT})"),
        ({"url": "http://news.example:-1/"}, f"{WEB_URL} ({NO_PORT})"),
        ({"url": "http://[::1/"}, f"{WEB_URL} (the URL does not parse: Invalid IPv6 URL)"),
        ({"url": "http://☃.example/"}, f"{WEB_URL} ({NO_IDNA_NAME})"),
    ],
)
def test_a_step_missing_what_its_kind_reads_is_refused_before_anything_is_written(
    agent, payload, message
):
    data = {
        "agent": agent.slug,
        "title": "read it",
        "steps": [{"kind": "crawl", "payload": payload}],
    }

    with pytest.raises(ProposalInvalid) as refused:
        submit_proposal(data, source=ProposalSource.API)

    assert refused.value.errors == {"steps.0.payload.url": [message]}
    assert not Proposal.objects.exists()


def test_a_post_without_text_is_refused_unless_it_posts_a_draft_it_waits_for(agent):
    alone = [{"kind": "post_tweet", "payload": {"channel": "mastodon"}}]
    draft = {"kind": "draft_tweet", "payload": {"topic": "launch"}}
    unrelated = {"kind": "analyze", "payload": {"topic": "launch"}}

    def submit(steps):
        return submit_proposal(
            {"agent": agent.slug, "title": "say it", "steps": steps}, source=ProposalSource.API
        )

    for steps, at in [(alone, 0), ([unrelated, alone[0] | {"depends_on": [0]}], 1)]:
        with pytest.raises(ProposalInvalid) as refused:
            submit(steps)
        assert refused.value.errors == {
            f"steps.{at}.payload.text": [
                "post_tweet needs text to post, or a draft_tweet step it depends on"
            ]
        }
    assert not Proposal.objects.exists()

    posted = submit([draft, alone[0] | {"depends_on": [0]}]).proposal
    assert [s["kind"] for s in posted.proposed_steps] == ["draft_tweet", "post_tweet"]


def test_approving_work_of_an_agent_disabled_since_it_was_proposed_refuses_it_as_the_door_does(
    agent,
):
    waiting = propose(agent, "deploy")
    agent.enabled = False
    agent.save(update_fields=["enabled"])

    late = approve_proposal(waiting, actor="operator:ann")

    assert (late.status, late.rejection_code) == ("rejected", "agent_disabled")
    assert late.reason == "Agent devops is disabled"
    assert late.decided_by == "operator:ann"
    assert not Mission.objects.filter(proposal=late).exists()
    assert Event.objects.get(kind="proposal.rejected", proposal=late).summary == late.reason
    # it came in through the door, so it still spent its agent's allowance for the day
    assert Proposal.objects.created_today().counting_toward_daily_limit().get() == late


def test_a_known_secret_in_a_proposal_is_masked_before_it_is_stored_shown_or_prompted(
    agent, settings
):
    """A task pasting the operator's token (or a model's draft echoing a key) was kept as
    sent: the approvals card, the API's answer and the step's prompt all carried it."""
    settings.OPS_API_TOKEN = secret = "opstoken-0123456789-0123456789-abcdef"
    data = {"agent": "devops", "title": f"Rotate {secret}", "description": f"old: {secret}"}
    data["steps"] = [{"kind": "deploy", "payload": {"target": "prod", secret: f"use {secret}"}}]

    answer = submit_proposal(data, source=ProposalSource.API).as_json()

    stored = Proposal.objects.get()
    assert secret not in str(answer) and secret not in str(stored.readable_steps())
    assert (stored.title, stored.description) == ("Rotate [redacted]", "old: [redacted]")
    assert stored.proposed_steps[0]["payload"] == {"target": "prod", "[redacted]": "use [redacted]"}


def test_a_step_named_for_a_disabled_agent_is_refused_at_the_door_and_at_approval(agent):
    """Only the proposing agent was asked: a step naming a disabled agent went into a
    mission as that agent's, where nobody claims it until someone switches it back on."""
    off = AgentFactory(slug="ops2", enabled=False)
    handed = {"agent": agent.slug, "title": "Hand over", "steps": [{"kind": "analyze"}]}
    handed["steps"][0]["agent"] = off.slug

    refused = submit_proposal(handed, source=ProposalSource.API).proposal

    assert (refused.status, refused.rejection_code) == ("rejected", "agent_disabled")
    assert refused.reason == "Agent ops2 is disabled (step 1 is for it)"
    assert not Step.objects.exists()
    later_off = AgentFactory(slug="ops3")
    waiting = submit_proposal(
        handed | {"steps": [{"kind": "deploy", "agent": "ops3"}]}, source=ProposalSource.API
    ).proposal
    later_off.enabled = False
    later_off.save(update_fields=["enabled"])
    late = approve_proposal(waiting, actor="operator:ann")
    assert (late.status, late.rejection_code) == ("rejected", "agent_disabled")
    assert not Step.objects.exists()
