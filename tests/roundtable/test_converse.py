"""`manage.py converse`: a conversation on demand, streamed turn by turn, and refused while
the roundtable lane is paused unless forced."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from opscore.actions import set_policy
from roundtable.models import Conversation

pytestmark = pytest.mark.django_db


DEBATE = ["converse", "--format", "debate", "--agents", "devops,security", "--topic", "x"]


def test_converse_prints_the_transcript(crew):
    out = StringIO()
    call_command(*DEBATE[:-1], "Friday deploys", "--seed", "4", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0].endswith("debate: Friday deploys")
    assert "-> succeeded" in out.getvalue()
    spoken = [line for line in lines if line.startswith("  ")]
    assert 6 <= len(spoken) <= 10
    assert "[offline] devops here" in out.getvalue() or "[offline] security here" in out.getvalue()
    assert all("Friday deploys" in line for line in spoken if "[" in line)  # on topic


def test_converse_streams_each_turn_as_it_is_spoken(crew, monkeypatch):
    class Streaming(StringIO):
        flushed_with: list[int] = []

        def flush(self):
            self.flushed_with.append(self.getvalue().count("\n  "))

    out = Streaming()
    call_command(*DEBATE, stdout=out)

    assert out.flushed_with[:3] == [1, 2, 3]  # flushed turn by turn, not once at the end


def test_converse_refuses_while_the_lane_is_paused_unless_forced(crew):
    set_policy("lane_switches", {"lanes": {"roundtable": False}}, actor="test", reason="quiet")
    args = DEBATE

    with pytest.raises(CommandError, match=r"lane roundtable paused \(queue\) by lane_switches"):
        call_command(*args, stdout=StringIO())
    call_command(*args, "--force", stdout=StringIO())

    assert Conversation.objects.get().status == "succeeded"


def test_converse_refuses_while_the_roundtable_is_switched_off_unless_forced(crew):
    """roundtable_policy.enabled false stops the schedule and the worker; `converse` held a
    conversation all the same, its memories, drift and action items included."""
    set_policy("roundtable_policy", {"enabled": False}, actor="test", reason="quiet week")

    with pytest.raises(CommandError, match=r"roundtable_policy\.enabled is false"):
        call_command(*DEBATE, stdout=StringIO())
    assert not Conversation.objects.exists()
    call_command(*DEBATE, "--force", stdout=StringIO())

    assert Conversation.objects.get().status == "succeeded"


def test_converse_names_the_override_that_pauses_the_lane_and_its_reason(crew):
    """It said only 'paused (lane_switches)', where every other surface names the override."""
    from opscore.overrides import apply_override

    pause = apply_override("pause-lane", "roundtable", reason="board week", actor="t")

    with pytest.raises(CommandError, match=f"by override {pause.id}: board week"):
        call_command(*DEBATE, stdout=StringIO())


def test_converse_paces_turns_as_configured_unless_told_otherwise(crew, settings, monkeypatch):
    """9 turns landing in a second show as one bubble: converse waits like the roundtable."""
    import roundtable.speaking

    settings.OPS_TURN_PAUSE_SECONDS = (3.0, 3.0)
    slept: list[float] = []
    monkeypatch.setattr(roundtable.speaking, "wait_between_turns", slept.append)

    call_command(*DEBATE, "--seed", "4", stdout=StringIO())
    paced = list(slept)
    call_command(*DEBATE, "--seed", "4", "--pause", "0", stdout=StringIO())

    assert paced and set(paced) == {3.0}
    assert slept == paced  # --pause 0 waited nowhere


@pytest.mark.parametrize("pause", ["-1", "inf", "nan", "3601"])
def test_a_pause_that_is_no_wait_is_refused_before_anything_is_spoken(crew, pause):
    with pytest.raises(CommandError, match="--pause"):
        call_command(*DEBATE, "--pause", pause)

    assert not Conversation.objects.exists()


def test_ctrl_c_ends_the_conversation_failed_at_once_not_running_for_its_lease(crew):
    """Ctrl-C in `converse` exited 130 and left its conversation `running` on the Stage, for
    the 15 minutes until its lease ran out and recovery failed it, while nobody spoke in it."""

    class CtrlCAtTheSecondTurn(StringIO):
        def write(self, text):
            if self.getvalue().count("\n  ") >= 1 and text.startswith("  "):
                raise KeyboardInterrupt
            return super().write(text)

    with pytest.raises(KeyboardInterrupt):
        call_command(*DEBATE, "--pause", "0", stdout=CtrlCAtTheSecondTurn())

    conversation = Conversation.objects.get()
    assert conversation.status == "failed"
    assert conversation.error == "interrupted (Ctrl-C in converse) after 2 turn(s)"
