"""The admin's bulk actions that ask a reason (reject proposals or opportunities, pause a
mission, close a goal, lift an override, cancel a coding run) check it once, before any row,
by the rule every surface applies (opscore.text.checked_reason). Their early check tested
`reason.strip()`, so a reason of zero-width or bidi characters passed it and was refused row by
row, or stored as an empty-looking reason (an opportunity's rejection); and a rejection's
reason had no limit at all. Now such a reason touches no row, and the page asks again, saying
why. Cancelling coding runs asked for none ("from the admin"), where `coding cancel` takes one."""

import pytest
from django.contrib.messages import get_messages

from coding.models import CodingRun, Repository
from missions.goals import add_goal
from missions.models import Goal, Mission, Proposal
from opportunities.models import Opportunity
from opscore.models import Event, Override
from opscore.overrides import apply_override
from tests.coding_support import new_run
from tests.factories import make_opportunity, make_step, propose

pytestmark = pytest.mark.django_db
INVISIBLE = "\u200b\u200b\u202e"


def pending_proposal(agent):
    row = propose(agent, "deploy", title="Ship it")
    return row, lambda: Proposal.objects.get(pk=row.pk).status == "pending"


def new_opportunity(agent):
    row = make_opportunity(agent)
    return row, lambda: Opportunity.objects.get(pk=row.pk).status == "new"


def running_mission(agent):
    row = make_step("noop", agent=agent).mission
    return row, lambda: Mission.objects.get(pk=row.pk).paused_at is None


def active_goal(agent):
    terms = {"title": "Ship", "why": "asked", "metric": "missions_succeeded", "target": 3}
    row = add_goal(terms | {"owner": agent.slug, "deadline": "30d"}, actor="operator:test")
    return row, lambda: Goal.objects.get(pk=row.pk).status == "active"


def override_in_force(agent):
    row = apply_override("pause-lane", "reactions", reason="storm", actor="operator:test")
    return row, lambda: Override.objects.get(pk=row.pk).status == "active"


def queued_coding_run(agent):
    repo = Repository.objects.create(name="app", path="/nowhere", allowed_base_refs=["main"])
    row = new_run(repo, "@greet", agent=agent)
    return row, lambda: CodingRun.objects.get(pk=row.pk).status == "queued"


ACTIONS = {  # the changelist, the action, and a row it acts on (with "is it untouched?")
    "reject proposals": ("/admin/missions/proposal/", "reject_proposals", pending_proposal),
    "reject opportunities": ("/admin/opportunities/opportunity/", "reject", new_opportunity),
    "pause missions": ("/admin/missions/mission/", "pause_missions", running_mission),
    "close goals": ("/admin/missions/goal/", "close_goals", active_goal),
    "lift overrides": ("/admin/opscore/override/", "lift_selected", override_in_force),
    "cancel coding runs": ("/admin/coding/codingrun/", "cancel_runs", queued_coding_run),
}


@pytest.fixture(params=ACTIONS)
def bulk(request, admin_client, agent):
    changelist, action, make = ACTIONS[request.param]
    row, untouched = make(agent)

    def apply(reason):
        form = {"action": action, "_selected_action": [row.pk], "apply": "1", "reason": reason}
        return admin_client.post(changelist, form)

    return apply, untouched


def messages_of(answer) -> list[str]:
    return [str(m) for m in get_messages(answer.wsgi_request)]


def test_a_reason_of_nothing_but_hidden_characters_touches_no_row_and_asks_again(bulk):
    apply, untouched = bulk
    events = Event.objects.count()

    answer = apply(INVISIBLE)

    assert messages_of(answer) == ["Nothing done: this action needs a reason"]
    assert answer.status_code == 200 and 'name="reason"' in answer.content.decode()
    assert untouched() and Event.objects.count() == events


def test_a_reason_past_500_characters_touches_no_row_and_asks_again(bulk):
    apply, untouched = bulk
    events = Event.objects.count()

    answer = apply("r" * 501)

    said = "Nothing done: a reason is at most 500 characters (501 given)"
    assert messages_of(answer) == [said]
    assert answer.status_code == 200 and 'name="reason"' in answer.content.decode()
    assert untouched() and Event.objects.count() == events


def test_a_reason_of_500_characters_is_applied(bulk):
    apply, untouched = bulk

    answer = apply("r" * 500 + INVISIBLE)

    assert answer.status_code == 302 and not untouched()


def test_a_coding_run_is_cancelled_with_the_reason_typed(admin_client, agent):
    run, _ = queued_coding_run(agent)
    chosen = {"action": "cancel_runs", "_selected_action": [run.pk]}

    asked = admin_client.post("/admin/coding/codingrun/", chosen).content.decode()
    admin_client.post("/admin/coding/codingrun/", chosen | {"apply": "1", "reason": "wrong repo"})

    run.refresh_from_db()
    assert 'name="reason"' in asked and "R" + str(run.pk) in asked
    assert (run.status, run.reason) == ("cancelled", "cancelled by operator: wrong repo")
