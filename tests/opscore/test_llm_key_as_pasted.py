"""ANTHROPIC_API_KEY as a secret file or a paste leaves it (`kubectl create secret
--from-file`, `KEY=$(cat key)` with a CRLF): a line break or a space around the key went into
the request's header, which the HTTP client refuses to send, so every call failed as a
transient 'Connection ... failed: LocalProtocolError', was retried and counted against the
host, and nothing said the key was the cause."""

import importlib

import pytest

from opscore.settings_parts import llm as llm_settings


@pytest.fixture
def reread(monkeypatch):
    """The LLM settings read again from the environment as set, and as they were after."""

    def read(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(llm_settings)

    yield read
    monkeypatch.undo()
    importlib.reload(llm_settings)


@pytest.mark.parametrize(
    "pasted", ["sk-ant-api03-abc\n", " sk-ant-api03-abc\r\n", "\tsk-ant-api03-abc "]
)
def test_a_key_is_read_without_the_space_around_it(reread, pasted):
    read = reread(ANTHROPIC_API_KEY=pasted, OPSCORE_LLM="")

    assert read.ANTHROPIC_API_KEY == "sk-ant-api03-abc"
    assert read.OPSCORE_LLM == "anthropic"


def test_a_key_of_space_alone_is_no_key(reread):
    read = reread(ANTHROPIC_API_KEY="\n", OPSCORE_LLM="")

    assert (read.ANTHROPIC_API_KEY, read.OPSCORE_LLM) == ("", "offline")
