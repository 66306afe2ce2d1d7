"""A staff account that may only *view* a model's rows sees them in the admin but changes
nothing through it: every action that writes (cancel, retry, revise a coding run; mark a
memory stale; lift an override) needs the model's change permission, and the page that
applies an override needs the override's. Those three actions asked for no permission or for
view only, and the apply page for none at all, so a read-only operator could cancel a coding
run, lift a `disable-agent` or apply one."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from coding.models import CodingRun, Repository
from memory.models import Memory
from opscore.models import Event, Override
from opscore.overrides import apply_override
from tests.coding_support import new_run
from tests.factories import make_memories

pytestmark = pytest.mark.django_db


def queued_coding_run(agent):
    repo = Repository.objects.create(name="app", path="/nowhere", allowed_base_refs=["main"])
    row = new_run(repo, "@greet", agent=agent)
    return row, lambda: CodingRun.objects.get(pk=row.pk).status == "queued"


def active_memory(agent):
    make_memories(agent, "lesson", 1)
    row = Memory.objects.get()
    return row, lambda: Memory.objects.get(pk=row.pk).status == "active"


def override_in_force(agent):
    row = apply_override("pause-lane", "reactions", reason="storm", actor="operator:test")
    return row, lambda: Override.objects.get(pk=row.pk).status == "active"


ACTIONS = {  # the model, the action, and a row it acts on (with "is it untouched?")
    "cancel coding runs": ("coding", "codingrun", "cancel_runs", queued_coding_run),
    "retry coding runs": ("coding", "codingrun", "retry_runs", queued_coding_run),
    "revise coding runs": ("coding", "codingrun", "revise_runs", queued_coding_run),
    "mark memories stale": ("memory", "memory", "mark_stale", active_memory),
    "lift overrides": ("opscore", "override", "lift_selected", override_in_force),
}


def viewer(client, *codenames):
    user = get_user_model().objects.create_user("viv", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


@pytest.mark.parametrize("name", ACTIONS)
def test_a_staff_user_who_may_only_view_cannot_act(client, agent, name):
    app, model, action, make = ACTIONS[name]
    row, untouched = make(agent)
    viewer(client, f"view_{model}")
    events = Event.objects.count()
    changelist = f"/admin/{app}/{model}/"
    chosen = {"action": action, "_selected_action": [row.pk], "apply": "1", "reason": "why"}

    listed = client.get(changelist).content.decode()
    answer = client.post(changelist, chosen)

    assert answer.status_code in (200, 302) and untouched()
    assert Event.objects.count() == events
    assert f'value="{action}"' not in listed  # not offered


def test_a_staff_user_without_the_override_permission_cannot_apply_one(client, agent):
    viewer(client, "view_override")
    form = {"kind": "disable_agent", "target": agent.slug, "reason": "why", "confirm": "1"}

    listed = client.get("/admin/opscore/override/").content.decode()
    shown = client.get("/admin/opscore/override/apply/")
    answer = client.post("/admin/opscore/override/apply/", form)

    agent.refresh_from_db()
    assert agent.enabled and not Override.objects.exists()
    assert (shown.status_code, answer.status_code) == (403, 403)
    assert "Apply an override" not in listed


def test_an_operator_who_may_change_overrides_still_applies_one(client, agent):
    viewer(client, "view_override", "change_override")
    form = {"kind": "disable_agent", "target": agent.slug, "reason": "why", "confirm": "1"}

    answer = client.post("/admin/opscore/override/apply/", form)

    assert answer.status_code == 302 and Override.objects.get().kind == "disable_agent"


def test_someone_not_staff_is_sent_to_sign_in_and_nothing_is_applied(client, agent):
    user = get_user_model().objects.create_user("nan", password="x")
    user.user_permissions.add(*Permission.objects.filter(codename__endswith="_override"))
    client.force_login(user)
    form = {"kind": "disable_agent", "target": agent.slug, "reason": "why", "confirm": "1"}

    answer = client.post("/admin/opscore/override/apply/", form)

    assert answer.status_code == 302 and "/login/" in answer["Location"]
    assert not Override.objects.exists()
