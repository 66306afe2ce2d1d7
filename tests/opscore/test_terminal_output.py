"""What an agent, a model or an outside caller wrote reaches the operator's terminal through a
command's text output: an escape sequence in it must be shown, never obeyed. `\\x1b[2J` cleared
the screen, a CSI recoloured the rest of the session, a lone carriage return printed the words
after it over the words before, and a bidi override reversed what followed."""

import json
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command, get_commands, load_command_class

from console.models import ChatMessage
from memory.models import MemoryCandidate
from missions.models import Mission
from missions.threads import ask_operator
from opscore.overrides import apply_override
from tests.factories import AgentFactory, make_step
from tests.opscore.test_llm_providers import anthropic_reply, anthropic_with

pytestmark = pytest.mark.django_db

HOSTILE = "\x1b[2J\x1b]0;owned\x07\x9b31m\rall clear\u202eevil"
TRICKS = ("\x1b", "\x07", "\x9b", "\u202e")


def shown(*words) -> str:
    out = StringIO()
    call_command(*words, stdout=out)
    return out.getvalue()


def assert_shown_not_obeyed(text: str) -> None:
    assert not any(trick in text for trick in TRICKS), ascii(text)
    assert "\r" not in text.replace("\r\n", ""), ascii(text)
    assert "⟨U+001B⟩[2J" in text and "⟨U+000D⟩all clear" in text, ascii(text)


def test_thread_show_names_the_escapes_in_an_agents_title_and_question(agent):
    step = make_step("analyze", agent=agent)
    Mission.objects.filter(pk=step.mission_id).update(title=f"Disks {HOSTILE}")
    ask_operator(step, f"May I? {HOSTILE}")  # the words after an agent's QUESTION:

    text = shown("thread", "show", "mission", str(step.mission_id))

    assert_shown_not_obeyed(text)
    assert text.count("⟨U+001B⟩[2J") == 2


def test_chat_shows_a_models_answer_with_its_escapes_named(monkeypatch, settings):
    AgentFactory(slug="coordinator")
    settings.OPSCORE_LLM = "anthropic"
    body = json.dumps({"answer": f"Nothing runs. {HOSTILE}", "work": None})
    monkeypatch.setattr("opscore.llm.get_provider", lambda: anthropic_with(anthropic_reply(body)))

    asked = shown("chat", "ask", "what is running?")
    again = shown("chat", "history")

    assert ChatMessage.objects.filter(text__contains="\x1b[2J").exists()  # kept as written
    assert_shown_not_obeyed(asked)
    assert_shown_not_obeyed(again)


def test_memory_candidates_and_override_list_name_the_escapes(agent):
    MemoryCandidate.objects.create(
        source_agent=agent, kind="insight", title=f"Learned {HOSTILE}", body="b", confidence=0.8
    )
    apply_override("pause_lane", "roundtable", reason=f"quiet {HOSTILE}", actor="api:ops")

    assert_shown_not_obeyed(shown("memory", "candidates"))
    listed = shown("override", "list")  # the reason was cleaned of ESC, not of CR or a C1 CSI
    assert "quiet" in listed and not any(trick in listed for trick in TRICKS), ascii(listed)
    assert "\r" not in listed.replace("\r\n", ""), ascii(listed)


def test_every_command_of_ours_shows_text_through_the_terminal_guard():
    """A new command that printed untrusted text raw would undo this: each one is an
    OpsCommand, whose stdout and stderr name control characters instead of sending them."""
    from opscore.cli import OpsCommand

    ours = {config.name for config in apps.get_app_configs() if "/.venv/" not in config.path}
    for name, app in get_commands().items():
        if app in ours:
            assert isinstance(load_command_class(app, name), OpsCommand), name
