"""A wrong setting in the environment stops every command in one line, never a traceback: the
settings are strict about bad values (opscore.settings_parts.env), and a DATABASE_URL that is
no URL at all names neither its password nor the rest of it."""

import os
import subprocess
import sys

import pytest

from tests.processes import ROOT


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"OPS_WORKER_SLOTS": "abc"}, "OPS_WORKER_SLOTS must be an integer, got 'abc'"),
        ({"DATABASE_URL": "postgres://u:sekrit@127.0.0.1:notaport/db"}, "DATABASE_URL is not"),
        ({"DATABASE_URL": "sekrit"}, "DATABASE_URL is not"),
        ({"DATABASE_URL": "mysql://u:sekrit@h/db"}, "MySQLdb"),
        ({"OPS_LLM_MAX_TRIES": "0"}, "OPS_LLM_MAX_TRIES must be at least 1, got '0'"),
        ({"OPS_LLM_RETRY_BASE_SECONDS": "soon"}, "must be a number, got 'soon'"),
        ({"OPS_LLM_RETRY_BASE_SECONDS": "-2"}, "must be at least 0, got '-2'"),
        ({"OLLAMA_URL": "sekrit.test:11434"}, "OLLAMA_URL is not an http(s) URL"),
        ({"OLLAMA_URL": "http://u:sekrit@[::1"}, "OLLAMA_URL is not an http(s) URL"),
        ({"OLLAMA_URL": "http://u:sekrit@host:99999"}, "OLLAMA_URL is not an http(s) URL"),
    ],
    ids=[
        "a setting",
        "a bad port",
        "no url",
        "another database",
        "no try",
        "a word for a pause",
        "a negative pause",
        "a model host with no scheme",
        "a model host that does not parse",
        "a model host's port out of range",
    ],
)
def test_a_wrong_setting_is_one_line_and_exit_1(env, said):
    done = subprocess.run(
        [sys.executable, "manage.py", "status"],
        cwd=ROOT,
        env=os.environ | {"LOG_LEVEL": "WARNING"} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("opscore status: the configuration is wrong: ")
    assert said in done.stderr and len(done.stderr.splitlines()) == 1
    assert "sekrit" not in done.stderr + done.stdout
