"""A script that runs a command with `--json` reads JSON whatever happens: a refusal is the API's
own error object, `{"ok": false, "error", "errors"}`, on stdout, with exit 2."""

import json

import pytest

from opscore.cli import main

pytestmark = pytest.mark.django_db
TOKEN = "an-operator-token-that-is-long-enough-01"


def refused(capsys, *words) -> dict:
    with pytest.raises(SystemExit) as exited:
        main(["opscore", *words, "--json"])
    assert exited.value.code == 2
    return json.loads(capsys.readouterr().out)


def test_a_refusal_has_the_shape_the_api_answers_with(client, settings, capsys):
    """The command line said `{"error", "errors"}` where the API (and `agentbus`) say
    `{"ok": false, "error", "errors"}`: a script reading `ok` took the refusal for a success."""
    settings.OPS_API_TOKEN = TOKEN
    api = client.get("/api/ops/goals/999999", headers={"Authorization": f"Bearer {TOKEN}"})

    cli = refused(capsys, "goal", "show", "999999")

    assert api.status_code == 404
    assert cli.keys() == api.json().keys()
    assert cli["ok"] is False and cli["errors"] == {"id": ["no goal 999999"]}
