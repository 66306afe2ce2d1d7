"""The policy simulator: last week's recorded traffic replayed against an edited policy value,
before it is saved, telling exactly what the real intake would then decide."""

import json
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.utils import quote
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models.functions import Now
from django.urls import reverse

from missions.decisions import approve_proposal
from missions.models import Proposal, Step
from missions.simulation import SimulationRefused
from missions.simulation_report import simulate_policy
from opscore.actions import set_policy
from opscore.models import Event, LLMCall, Policy
from tests.factories import AgentFactory, propose

MONDAY = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
STRICTER = {"enabled": True, "max_drafts_per_day": 3}
# One day of traffic: drafts (one asking for two), analysis, and a deploy a human approves.
DAY = [
    ("write_content",),
    ("analyze",),
    ("write_content", "write_content"),
    ("write_content",),
    ("deploy",),
    ("write_content",),
    ("write_content",),
]


def seed_week(clock, agent):
    """Each day's work runs that day: a step still waiting would count on the next day too."""
    for day in range(7):
        for hour, kinds in enumerate(DAY):
            clock.freeze(MONDAY + timedelta(days=day, hours=hour + 1))
            proposal = propose(agent, *kinds, title=f"day {day} #{hour}")
            if "deploy" in kinds:
                clock.freeze(MONDAY + timedelta(days=day, hours=hour + 1, minutes=30))
                approve_proposal(proposal, actor="op")
        clock.freeze(MONDAY + timedelta(days=day, hours=20))
        Step.objects.open().update(status="succeeded", finished_at=Now())
    clock.freeze(MONDAY + timedelta(days=6, hours=23))


def simulated_rejections(report) -> dict[str, str]:
    changes = report["proposals"]["transitions"]
    return {e["title"]: e["reason"] for e in changes["auto_approved → rejected"]["examples"]}


@pytest.fixture(autouse=True)
def days_end_at_utc_midnight(settings):
    """The seeded week is counted against a daily cap by the day in OPS_TIME_ZONE: its hours
    (01:30-07:30 UTC) are one day each in UTC, but straddle two in New York."""
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def scout(db):
    return AgentFactory(slug="writer", daily_proposal_limit=100)


def test_it_reports_exactly_what_the_real_gate_rejects_once_the_policy_is_saved(clock, scout):
    with transaction.atomic():  # the recorded week, rolled back once simulated
        seed_week(clock, scout)
        report = simulate_policy("content_policy", STRICTER, examples=100)
        assert not Proposal.objects.filter(status="rejected").exists()
        transaction.set_rollback(True)

    set_policy("content_policy", STRICTER, actor="op", reason="fewer drafts")
    seed_week(clock, scout)

    rejected = Proposal.objects.filter(status="rejected", rejection_code="cap_gate")
    assert simulated_rejections(report) == dict(rejected.values_list("title", "reason"))
    assert len(simulated_rejections(report)) == 7 * 3  # day #3, #5 and #6, every day
    assert report["proposals"]["replayed"] == 7 * len(DAY)
    assert report["complete"]


def test_each_example_links_to_the_real_row_and_its_steps(clock, scout):
    seed_week(clock, scout)
    report = simulate_policy("content_policy", STRICTER, examples=2)

    change = report["proposals"]["transitions"]["auto_approved → rejected"]
    assert change["count"] == 21 and len(change["examples"]) == 2
    first = Proposal.objects.get(title=change["examples"][0]["title"])
    assert change["examples"][0]["url"] == reverse(
        "admin:missions_proposal_change", args=[first.id]
    )
    assert report["steps_switched_off"]["count"] == 21
    assert Step.objects.get(pk=report["steps_switched_off"]["examples"][0]["step"])


def test_a_stricter_auto_approve_sends_work_to_a_human_and_saves_its_spend(clock, scout):
    seed_week(clock, scout)
    step = Step.objects.filter(kind="analyze").first()
    LLMCall.objects.create(
        step=step, purpose="analyze", provider="offline", model="m", prompt_version="1",
        outcome="ok", cost_usd="0.25",
    )  # fmt: skip
    value = {"enabled": True, "allowed_step_kinds": ["write_content"]}

    report = simulate_policy("auto_approve", value)

    assert report["proposals"]["transitions"]["auto_approved → pending"]["count"] == 7
    assert report["spend"]["avoided_usd"] == 0.25


def test_the_command_says_the_spend_as_a_person_reads_money(clock, scout, tmp_path, capsys):
    seed_week(clock, scout)
    LLMCall.objects.create(
        step=Step.objects.filter(kind="analyze").first(), purpose="analyze", provider="offline",
        model="m", prompt_version="1", outcome="ok", cost_usd="0.25",
    )  # fmt: skip
    stricter, same = tmp_path / "stricter.json", tmp_path / "same.json"
    stricter.write_text('{"enabled": true, "allowed_step_kinds": ["write_content"]}')
    same.write_text('{"enabled": false}')

    call_command("simulate-policy", "auto_approve", "--value", str(stricter))
    call_command("simulate-policy", "content_policy", "--value", str(same))

    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("spend:")]
    assert said == [
        "spend: $0.2500 avoided, $0.0000 estimated for new work, difference -$0.2500",
        "spend: $0.0000 avoided, $0.0000 estimated for new work, difference $0.0000",
    ]


def test_the_simulation_changes_no_row(clock, scout):
    seed_week(clock, scout)
    before = {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (Proposal, Step, Event, Policy)
    }

    simulate_policy("content_policy", STRICTER)
    simulate_policy("auto_approve", {"enabled": False})

    after = {name: list(m.objects.order_by("pk").values()) for name, m in models(before)}
    assert after == before


def models(before):
    found = {m.__name__: m for m in (Proposal, Step, Event, Policy)}
    return [(name, found[name]) for name in before]


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("content_policy", {"max_drafts_per_day": -1}, "max_drafts_per_day"),
        ("content_policy", {"typo": 1}, "typo"),
        ("no_such_policy", {}, "unknown policy key"),
        ("lane_switches", {"lanes": {"triggers": False}}, "only through overrides"),
    ],
)
def test_an_invalid_value_is_refused_as_a_policy_save_would_be(db, key, value, says):
    with pytest.raises(SimulationRefused, match=says):
        simulate_policy(key, value)


def test_the_cli_reports_json_and_refuses_bad_input(clock, scout, tmp_path, capsys):
    seed_week(clock, scout)
    path = tmp_path / "value.json"
    path.write_text(json.dumps(STRICTER))

    call_command("simulate-policy", "content_policy", "--value", str(path), "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["proposals"]["changed"] == 21

    path.write_text('{"max_drafts_per_day": "many"}')
    with pytest.raises(CommandError, match="refused: content_policy is invalid") as invalid:
        call_command("simulate-policy", "content_policy", "--value", str(path))
    with pytest.raises(CommandError, match="--since") as unreadable_window:
        call_command("simulate-policy", "content_policy", "--value", str(path), "--since", "ever")
    assert invalid.value.returncode == unreadable_window.value.returncode == 2  # refused


@pytest.mark.parametrize(
    "option, value, says",
    [
        ("--examples", "-1", "'-1' is not 0 to 100"),
        ("--examples", "101", "'101' is not 0 to 100"),
        ("--deadline", "0", "'0' is not 1 to 3600 seconds"),
        ("--deadline", "nan", "'nan' is not 1 to 3600 seconds"),
        ("--deadline", "86400", "'86400' is not 1 to 3600 seconds"),
    ],
)
def test_an_out_of_range_option_is_refused_in_one_line(db, tmp_path, option, value, says):
    """`--examples -1` answered with all 101 allowed values; `--deadline 0` or a day ran with
    another deadline than the one asked for, saying nothing."""
    path = tmp_path / "value.json"
    path.write_text(json.dumps(STRICTER))

    with pytest.raises(CommandError) as refused:
        call_command("simulate-policy", "content_policy", "--value", str(path), option, value)

    assert str(refused.value) == f"Error: argument {option}: {says}"


def test_an_endless_value_file_is_refused_after_the_input_limit(db, tmp_path, settings):
    """`--value /dev/zero` (or a pipe that never ends) was read whole before its size was
    checked: the command grew until memory ran out. It reads one byte past the limit."""
    settings.OPS_MAX_INPUT_BYTES = 1000
    fifo, offered = tmp_path / "endless", 8 * 1024 * 1024
    os.mkfifo(fifo)
    written = []
    writer = threading.Thread(target=feed, args=(fifo, offered, written))
    writer.start()

    with pytest.raises(CommandError, match="at most 1000 bytes") as refused:
        call_command("simulate-policy", "content_policy", "--value", str(fifo))
    writer.join()

    assert refused.value.returncode == 2
    assert sum(written) < offered // 8  # the pipe's buffer at most, not the whole stream


def feed(fifo, offered: int, written: list) -> None:
    """Write zeros into the pipe until `offered` bytes or the reader hangs up."""
    with open(fifo, "wb", buffering=0) as pipe:
        try:
            while sum(written) < offered:
                written.append(pipe.write(b"0" * 4096))
        except BrokenPipeError:
            pass


def test_a_simulation_past_its_deadline_stops_and_says_so(clock, scout):
    seed_week(clock, scout)

    report = simulate_policy("content_policy", STRICTER, deadline_seconds=-1)

    assert not report["complete"]
    assert report["stopped"] == "stopped after 0 proposals"


def test_the_admin_simulate_button_reports_before_anything_is_saved(clock, scout, admin_client):
    seed_week(clock, scout)
    set_policy("content_policy", {"max_drafts_per_day": 8}, actor="op")
    url = reverse("admin:opscore_policy_change", args=["content_policy"])

    form = admin_client.get(url)
    page = admin_client.post(url, {"value": json.dumps(STRICTER), "_simulate": "1"})

    assert b'name="_simulate"' in form.content
    assert page.status_code == 200
    assert b"21 decided differently" in page.content
    first = Proposal.objects.get(title="day 0 #3")
    assert reverse("admin:missions_proposal_change", args=[first.id]).encode() in page.content
    assert Policy.objects.value("content_policy").max_drafts_per_day == 8


def test_the_simulate_button_works_from_the_page_the_admin_links_to(clock, scout, admin_client):
    """The changelist links to content_5Fpolicy (the admin quotes keys); Simulate posts there."""
    seed_week(clock, scout)
    set_policy("content_policy", {"max_drafts_per_day": 8}, actor="op")
    listed = admin_client.get(reverse("admin:opscore_policy_changelist")).content.decode()
    url = reverse("admin:opscore_policy_change", args=[quote("content_policy")])

    page = admin_client.post(url, {"value": json.dumps(STRICTER), "_simulate": "1"})

    assert f'href="{url}"' in listed
    assert b"21 decided differently" in page.content and b"Refused" not in page.content


def test_the_admin_refuses_to_simulate_a_value_it_would_not_save(db, admin_client):
    url = reverse("admin:opscore_policy_change", args=["x_daily_quota"])
    set_policy("x_daily_quota", {"limit": 5}, actor="a")

    page = admin_client.post(url, {"value": '{"limit": "lots"}', "_simulate": "1"})

    assert b"Refused" in page.content and b"Input should be a valid integer" in page.content


def test_an_edited_reaction_matrix_says_which_reactions_would_fire_and_which_not(clock, scout):
    from missions.loop import match_reactions
    from opscore.actions import record_event
    from tests.factories import AgentFactory

    AgentFactory(slug="devops")
    failed = {"source": "*", "tags": ["mission_failed"], "target": "devops", "type": "diagnose"}
    set_policy("reaction_matrix", {"patterns": [failed | {"probability": 1.0, "cooldown": 0}]},
               actor="op")  # fmt: skip
    clock.freeze(MONDAY + timedelta(days=1))
    for n in range(3):
        record_event("mission.failed", f"broke {n}", tags=["mission", "mission_failed"])
    for n in range(2):
        record_event("tweet.posted", f"posted {n}", tags=["tweet", "posted"], agent=scout)
    match_reactions()
    clock.freeze(MONDAY + timedelta(days=2))
    posted = {"source": "writer", "tags": ["posted"], "target": "devops", "type": "analyze"}
    edited = {"patterns": [posted | {"probability": 0.5, "cooldown": 0}]}

    reactions = simulate_policy("reaction_matrix", edited)["reactions"]

    assert reactions["would_not_fire"]["count"] == 3
    assert reactions["would_fire"]["count"] == 2 and reactions["would_fire"]["expected"] == 1.0
    assert {e["title"] for e in reactions["would_fire"]["examples"]} == {"posted 0", "posted 1"}


def test_who_may_not_change_a_policy_may_not_simulate_one_either(db, client):
    from django.contrib.auth.models import Permission

    from tests.factories import OperatorFactory

    viewer = OperatorFactory(username="viewer", is_superuser=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_policy"))
    client.force_login(viewer)
    set_policy("x_daily_quota", {"limit": 5}, actor="a")
    url = reverse("admin:opscore_policy_change", args=["x_daily_quota"])

    page = client.post(url, {"value": '{"limit": 1}', "_simulate": "1"})

    assert page.status_code == 403


def test_a_value_pipe_no_one_writes_to_is_refused_not_waited_on(db, tmp_path):
    """`--value` naming a FIFO nothing writes to (a mistyped name, a writer that died) held the
    command in open() for ever, saying nothing: it waits for bytes within --deadline."""
    fifo = tmp_path / "nobody"
    os.mkfifo(fifo)
    said = []

    def simulate():
        try:
            call_command("simulate-policy", "content_policy", "--value", str(fifo), *DEADLINE)
        except CommandError as refused:
            said.append(refused)

    running = threading.Thread(target=simulate, daemon=True)
    running.start()
    running.join(timeout=30)
    waiting = running.is_alive()
    if waiting:  # the old code waits in open(): a writer that leaves at once ends it
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        running.join(timeout=30)

    assert not waiting, "still waiting for a writer after 30 s"
    assert said and said[0].returncode == 2
    assert str(said[0]) == f"refused: --value {fifo}: nothing was written to it in 1 s"


DEADLINE = ["--deadline", "1"]


def test_work_refused_at_approval_because_its_agent_was_switched_off_is_judged_at_arrival(
    clock, scout
):
    clock.freeze(MONDAY + timedelta(hours=1))
    set_policy("auto_approve", {"enabled": False}, actor="op", reason="all by hand")
    waiting = propose(scout, "analyze", title="by hand")
    scout.enabled = False
    scout.save(update_fields=["enabled"])
    clock.freeze(MONDAY + timedelta(hours=2))
    approve_proposal(waiting, actor="op")

    report = simulate_policy("auto_approve", {"enabled": True})

    change = report["proposals"]["transitions"]["rejected → auto_approved"]
    assert [e["title"] for e in change["examples"]] == ["by hand"]


def test_the_report_prints_an_events_words_so_they_cannot_pass_for_its_lines(db, tmp_path, capsys):
    """An event's title carries what an operator typed on a thread (line breaks, a carriage
    return): printed raw, it wrote lines of its own into the report the operator decides on."""
    from missions.threads import post_comment
    from tests.factories import make_step

    step = make_step("analyze", agent=AgentFactory(slug="devops"))
    forged = "fine\r  reactions that would not fire: 0\nreactions that would fire: 99"
    post_comment("mission", step.mission_id, actor="operator:ann", text=forged)
    remarks = {"source": "*", "tags": ["thread", "remark"], "target": "devops", "type": "analyze"}
    value = tmp_path / "matrix.json"
    value.write_text(json.dumps({"patterns": [remarks | {"probability": 1.0, "cooldown": 0}]}))

    call_command("simulate-policy", "reaction_matrix", "--value", str(value))

    out = capsys.readouterr().out
    assert "reactions that would fire: 1" in out and "\r" not in out
    assert not any(line.startswith("reactions that") for line in out.splitlines())


def test_the_simulation_page_shows_and_saves_the_value_it_simulated(db, admin_client):
    """Simulated from the typed fields, the page's JSON box showed the stored value, not the
    one simulated, and "Save this value" saved the hidden typed fields: an edit of the box
    shown (the one value on the page) was dropped without a word."""
    import html
    import re

    set_policy("content_policy", {"max_drafts_per_day": 8}, actor="op")
    url = reverse("admin:opscore_policy_change", args=["content_policy"])
    stored = json.dumps({"enabled": True, "max_drafts_per_day": 8})
    typed = {"editor": "form", "p_enabled": "on", "p_max_drafts_per_day": "3", "value": stored}

    page = admin_client.post(url, typed | {"_simulate": "1"}).content.decode()

    (box,) = re.findall(r"<textarea[^>]*name=\"value\"[^>]*>(.*?)</textarea>", page, re.S)
    assert json.loads(html.unescape(box)) == {"enabled": True, "max_drafts_per_day": 3}
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    edited = json.dumps({"enabled": True, "max_drafts_per_day": 4})  # the box, edited
    saved = hidden | {"value": edited, "reason": "stricter", "_save": "1"}
    admin_client.post(url, {k: html.unescape(v) for k, v in saved.items()})
    assert Policy.objects.value("content_policy").max_drafts_per_day == 4
