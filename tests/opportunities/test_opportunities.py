"""The proactive lane's data: answers or refusal, budgets that keep items as ideas, no
duplicates, decisions as rows, and conversion only through the intake."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection

from missions.models import Proposal
from opportunities.actions import (
    DecisionRefused,
    OpportunityInvalid,
    convert_opportunity,
    create_idea,
    promote_idea,
    propose_opportunity,
    review_idea,
    triage,
)
from opportunities.models import Idea, Opportunity, OpportunityReview
from opscore.actions import record_event
from opscore.db import db_now
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def scouts(db):
    AgentFactory(slug="coordinator")
    return AgentFactory(slug="devops")


def answer(scouts, **extra) -> dict:
    event = record_event("step.failed", "backups ran 40 minutes late", agent=scouts)
    return {
        "source_agent": "devops",
        "theme": "reliability",
        "title": "Move the backup window",
        "why_now": "Backups overlap the 02:00 batch since Monday.",
        "evidence": [{"type": "event", "id": event.id}],
        "impact": 3,
        "confidence": 4,
        "urgency": 2,
        "reversibility": "high",
        "owner_candidate": "devops",
        "suggested_next_step": "Shift the backup cron to 03:30 for a week.",
    } | extra


def test_an_opportunity_missing_its_answers_is_refused_with_the_fields_named(scouts):
    with pytest.raises(OpportunityInvalid) as refused:
        propose_opportunity(answer(scouts, why_now="", evidence=[], owner_candidate=None))

    assert set(refused.value.errors) == {"why_now", "evidence", "owner_candidate"}
    assert not Opportunity.objects.exists() and not Idea.objects.exists()


def test_evidence_must_name_rows_that_exist(scouts):
    with pytest.raises(OpportunityInvalid) as refused:
        propose_opportunity(answer(scouts, evidence=[{"type": "event", "id": 999999}]))

    assert refused.value.errors == {"evidence.0": ["no event 999999"]}


def test_the_fourth_in_a_day_is_kept_as_an_idea_with_the_reason(scouts):
    made = [propose_opportunity(answer(scouts, title=f"Idea {n}")) for n in range(4)]

    assert [m.opportunity is not None for m in made] == [True, True, True, False]
    idea = made[3].idea
    assert idea.title == "Idea 3" and idea.kept_because.startswith("over budget: devops proposed 3")
    assert made[3].as_json()["kept_as_idea"] is True


def test_a_second_urgent_escalation_in_a_day_is_an_idea_unless_severity_is_high(scouts):
    first = propose_opportunity(answer(scouts, urgency=5, title="urgent one"))
    second = propose_opportunity(answer(scouts, urgency=5, title="urgent two"))
    severe = propose_opportunity(answer(scouts, urgency=5, impact=5, title="on fire"))

    assert first.opportunity and severe.opportunity
    assert second.idea and "urgent escalation" in second.kept_because


def test_a_duplicate_open_opportunity_is_refused(scouts):
    propose_opportunity(answer(scouts, dedupe_key="backup-window"))

    with pytest.raises(OpportunityInvalid) as refused:
        propose_opportunity(answer(scouts, dedupe_key="backup-window"))

    assert "dedupe_key" in refused.value.errors
    assert Opportunity.objects.count() == 1


def test_status_changes_only_through_review_rows_and_legal_transitions(scouts):
    opportunity = propose_opportunity(answer(scouts)).opportunity

    triage(opportunity, "accepted", reviewer="operator:ana", notes="worth a week")
    triage(opportunity, "rejected", reviewer="operator:ana", notes="superseded by a fix")

    assert list(opportunity.reviews.order_by("id").values_list("decision", flat=True)) == [
        "accepted",
        "rejected",
    ]
    with pytest.raises(DecisionRefused, match="is rejected"):
        triage(opportunity, "accepted", reviewer="operator:ana")


def test_conversion_goes_through_the_intake_and_is_linked_both_ways(scouts):
    opportunity = propose_opportunity(answer(scouts)).opportunity

    converted = convert_opportunity(
        opportunity, converted_by="agent:coordinator", target_agent="devops"
    )

    proposal = Proposal.objects.get()
    assert converted.status == "converted" and converted.proposal == proposal
    assert (
        proposal.source == "opportunity" and proposal.cause_ref == f"opportunity:{opportunity.id}"
    )
    assert proposal.status == "accepted"
    assert proposal.mission.steps.get().payload["opportunity_id"] == opportunity.id
    assert OpportunityReview.objects.filter(decision="converted").exists()


def test_an_irreversible_opportunity_waits_for_a_human(scouts):
    opportunity = propose_opportunity(answer(scouts, reversibility="low")).opportunity

    convert_opportunity(opportunity, converted_by="agent:coordinator", target_agent="devops")

    proposal = Proposal.objects.get()
    assert proposal.status == "pending" and proposal.needs_human
    assert proposal.readable_steps()[0]["kind"] == "analyze"


def test_a_conversion_the_intake_refuses_leaves_the_opportunity_open_and_the_refusal_on_file(
    scouts,
):
    scouts.daily_proposal_limit = 0
    scouts.save()
    opportunity = propose_opportunity(answer(scouts)).opportunity

    with pytest.raises(DecisionRefused, match="Daily proposal limit"):
        convert_opportunity(opportunity, converted_by="agent:coordinator", target_agent="devops")

    opportunity.refresh_from_db()
    assert opportunity.status == "new" and Proposal.objects.get().status == "rejected"


def test_an_idea_is_reviewed_then_promoted_to_a_triaged_opportunity(scouts):
    event = record_event("note", "people ask for paired setup", agent=scouts)
    idea = create_idea(
        {
            "source_agent": "devops",
            "theme": "onboarding",
            "title": "Paired setup",
            "body": "Three people asked for it.",
            "evidence": [{"type": "event", "id": event.id}],
            "dedupe_key": "onboarding:paired-setup-v1",
        }
    )
    review_idea(idea)
    extra = answer(scouts)
    opportunity = promote_idea(
        idea,
        {k: extra[k] for k in ("why_now", "impact", "confidence", "urgency", "reversibility")}
        | {"owner_candidate": "devops", "suggested_next_step": "Pair two new hires."},
        promoted_by="agent:coordinator",
    )

    idea.refresh_from_db()
    assert idea.status == "promoted" and idea.promoted_opportunity == opportunity
    assert opportunity.status == "triaged" and opportunity.title == "Paired setup"
    assert {"type": "event", "id": event.id} in opportunity.evidence


def idea_and_promotion(scouts) -> tuple[Idea, dict]:
    """A new idea, and the answers that promote it."""
    event = record_event("note", "people ask for paired setup", agent=scouts)
    fields = {"source_agent": "devops", "theme": "onboarding", "title": "Paired setup"}
    idea = create_idea(fields | {"body": "asked", "evidence": [{"type": "event", "id": event.id}]})
    extra = answer(scouts)
    more = {k: extra[k] for k in ("why_now", "impact", "confidence", "urgency", "reversibility")}
    return idea, more | {"owner_candidate": "devops", "suggested_next_step": "Pair two new hires."}


def test_an_idea_promoted_by_two_reviewers_at_once_becomes_one_opportunity(scouts):
    """Two promotions that both read the idea as new (a curator's and a person's, each with
    the row as it stood): the second made a second opportunity of the same idea."""
    idea, more = idea_and_promotion(scouts)
    seen_by_both = Idea.objects.get(pk=idea.pk)
    promote_idea(idea, more, promoted_by="agent:coordinator")

    with pytest.raises(DecisionRefused, match=f"idea {idea.id} is promoted"):
        promote_idea(seen_by_both, more, promoted_by="operator:ann")

    assert Opportunity.objects.count() == 1


def test_a_duplicate_open_idea_is_refused(scouts):
    idea = {"source_agent": "devops", "theme": "t", "title": "x", "body": "y", "dedupe_key": "k"}
    create_idea(idea)

    with pytest.raises(OpportunityInvalid) as refused:
        create_idea(idea)

    assert "dedupe_key" in refused.value.errors


def test_a_scout_cannot_accept_its_own_find(scouts, capsys):
    """A runtime's token accepted its own opportunity, and the board's track record counted it
    as accepted by people (which a scout's daily slots follow)."""
    from tests.console.test_agentbus import bus

    found = propose_opportunity(answer(scouts)).opportunity
    said = ["--opportunity-id", str(found.id), "--decision", "accepted"]

    refused = bus("triage-opportunity", *said, "--reviewer", "devops", expect_exit=2, capsys=capsys)
    accepted = bus("triage-opportunity", *said, "--reviewer", "agent:coordinator")

    said_why = f"O{found.id} is devops's own find: another agent or a person accepts it"
    assert said_why in str(refused)
    assert accepted["status"] == "accepted"
    assert list(OpportunityReview.objects.values_list("reviewer", flat=True)) == [
        "agent:coordinator"
    ]


def test_the_agentbus_speaks_the_seeds_opportunity_verbs(scouts, capsys):
    from tests.console.test_agentbus import bus

    event = record_event("note", "signups dropped 30 %", agent=scouts)
    common = ["--source-agent", "devops", "--theme", "growth", "--why-now", "signups fell"]
    common += ["--evidence", json.dumps([{"type": "event", "id": event.id}])]
    common += ["--impact-score", "4", "--confidence-score", "3", "--urgency-score", "2"]
    common += ["--reversibility", "medium", "--owner-candidate", "devops"]
    common += ["--suggested-next-step", "Interview three people who left"]

    made = bus("create-opportunity", "--title", "Fix the signup funnel", *common)
    triaged = bus(
        "triage-opportunity",
        "--opportunity-id",
        str(made["opportunity_id"]),
        "--reviewer",
        "agent:coordinator",
        "--decision",
        "accepted",
    )
    converted = bus(
        "convert-opportunity",
        "--opportunity-id",
        str(made["opportunity_id"]),
        "--converted-by",
        "agent:coordinator",
        "--target-agent",
        "devops",
    )
    missing = bus(
        "create-opportunity",
        "--title",
        "x",
        *common[:-2],
        "--suggested-next-step",
        "",
        expect_exit=2,
        capsys=capsys,
    )

    assert triaged["status"] == "accepted" and converted["status"] == "converted"
    assert Proposal.objects.get(pk=converted["proposal_id"]).source == "opportunity"
    assert missing["errors"] == {
        "suggested_next_step": ["required: an opportunity must answer it (or keep this as an idea)"]
    }


def test_a_scout_whose_items_keep_being_turned_down_gets_fewer_slots(scouts):
    for n in range(3):
        made = propose_opportunity(answer(scouts, title=f"Weak {n}")).opportunity
        triage(made, "rejected", reviewer="operator:ana", notes="not useful")
    Opportunity.objects.update(created_at=db_now() - timedelta(days=1))  # not today's budget

    kept = [propose_opportunity(answer(scouts, title=f"New {n}")) for n in range(3)]

    assert [k.opportunity is not None for k in kept] == [True, True, False]
    assert "3 rejected or dismissed in 7 days cost 1 slot(s)" in kept[2].kept_because


def test_lineage_walks_from_an_opportunity_to_its_evidence_and_its_proposal(scouts, client):
    opportunity = propose_opportunity(answer(scouts)).opportunity
    waiting = client.get(f"/stage/lineage/opportunity/{opportunity.id}").content.decode()
    convert_opportunity(opportunity, converted_by="agent:coordinator", target_agent="devops")

    converted = client.get(f"/stage/lineage/opportunity/{opportunity.id}").content.decode()

    assert "backups ran 40 minutes late" in waiting and "Move the backup window" in waiting
    assert "opportunity O" in converted and "Opportunity: Move the backup window" in converted


@pytest.mark.django_db(transaction=True)
def test_parallel_proposals_by_one_scout_never_exceed_its_daily_budget(scouts, clock):
    """Two scout runs or the agent bus at once: the count and the insert are one decision."""
    clock.midday()  # every proposal counts toward one day's budget
    drafts = [answer(scouts, title=f"Idea {n}") for n in range(8)]

    def one(data):
        try:
            return propose_opportunity(data).opportunity is not None
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(drafts)) as pool:
        made = list(pool.map(one, drafts))

    assert made.count(True) == 3 == Opportunity.objects.count()
    kept = Idea.objects.all()
    assert kept.count() == 5
    assert all(i.kept_because.startswith("over budget: devops proposed 3") for i in kept)


def test_a_conversion_refused_once_goes_through_once_the_intake_has_room(scouts):
    """Refused today (the agent's day was spent), the opportunity stays open; converted again
    once the limit is raised, it becomes a proposal, not the old refusal read back."""
    scouts.daily_proposal_limit = 0
    scouts.save()
    opportunity = propose_opportunity(answer(scouts)).opportunity
    with pytest.raises(DecisionRefused, match="Daily proposal limit"):
        convert_opportunity(opportunity, converted_by="agent:coordinator", target_agent="devops")
    scouts.daily_proposal_limit = 10
    scouts.save()

    converted = convert_opportunity(
        opportunity, converted_by="agent:coordinator", target_agent="devops"
    )

    refused, made = Proposal.objects.order_by("id")
    assert converted.status == "converted" and converted.proposal == made
    assert (refused.status, made.status) == ("rejected", "accepted")
    assert made.cause_ref == refused.cause_ref == f"opportunity:{opportunity.id}"


def test_a_retried_proposal_over_budget_is_one_idea_and_never_a_copy_of_an_open_opportunity(
    scouts,
):
    """A runtime retries create-opportunity with its dedupe key: over budget, the first try
    is kept as an idea and a retry is refused as its duplicate, as an open opportunity's is;
    the key of an open opportunity is refused whatever the budget says."""
    propose_opportunity(answer(scouts, dedupe_key="disk", title="Disk"))
    for n in range(2):
        propose_opportunity(answer(scouts, dedupe_key=f"slot-{n}", title=f"Slot {n}"))

    with pytest.raises(OpportunityInvalid) as copy:
        propose_opportunity(answer(scouts, dedupe_key="disk", title="Disk"))
    kept = propose_opportunity(answer(scouts, dedupe_key="backup", title="Backup"))
    with pytest.raises(OpportunityInvalid) as retried:
        propose_opportunity(answer(scouts, dedupe_key="backup", title="Backup"))

    assert "dedupe_key" in copy.value.errors and "dedupe_key" in retried.value.errors
    assert list(Idea.objects.values_list("title", flat=True)) == ["Backup"]
    assert kept.idea.dedupe_key == "backup"


def test_a_review_that_read_the_idea_before_its_promotion_leaves_it_promoted(scouts):
    """A reviewer's review-idea read the idea as new; a promotion moved it meanwhile: the
    review turned it back to `reviewed`, open again, and a second promotion made a second
    opportunity of it."""
    idea, more = idea_and_promotion(scouts)
    seen_by_reviewer = Idea.objects.get(pk=idea.pk)
    promote_idea(idea, more, promoted_by="agent:coordinator")

    with pytest.raises(DecisionRefused, match=f"idea {idea.id} is promoted, not new"):
        review_idea(seen_by_reviewer)

    idea.refresh_from_db()
    assert idea.status == "promoted" and Opportunity.objects.count() == 1


def test_promoting_its_own_idea_does_not_get_a_scout_past_its_daily_budget(scouts, capsys):
    """Ideas have no budget; promoted one by one they were opportunities past the scout's
    three a day. Over budget, the idea stays an idea, saying why."""
    for n in range(3):
        propose_opportunity(answer(scouts, title=f"Slot {n}"))
    idea, more = idea_and_promotion(scouts)

    with pytest.raises(DecisionRefused, match="over budget: devops proposed 3") as refused:
        promote_idea(idea, more, promoted_by="devops")

    idea.refresh_from_db()
    assert Opportunity.objects.count() == 3 and idea.status == "new"
    assert idea.kept_because == str(refused.value).partition(": ")[2]
