"""The admin's repository form reads its JSON fields (allowed refs, test and lint commands,
runners) within the input limits every boundary applies. It used Django's own JSON field, which
takes a lone surrogate ("\\ud800"), NaN and NUL: the page that said the form was wrong then
failed to encode the value it showed back (a 500), and a value that did pass would have reached
Postgres, which refuses NaN and NUL in jsonb."""

import html

import pytest

from coding.models import Repository
from tests.factories import OperatorFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "value, reason",
    [
        ('["\\ud800"]', "contains a lone surrogate (\\ud800-\\udfff), not text"),
        ('["\\u0000"]', "contains a NUL character (\\u0000)"),
        ("[NaN]", "NaN and Infinity are not numbers JSON allows"),
    ],
)
@pytest.mark.parametrize("field", ["allowed_base_refs", "test_command", "lint_command", "runners"])
def test_a_json_field_outside_the_input_limits_is_a_form_error(client, field, value, reason):
    client.raise_request_exception = False
    client.force_login(OperatorFactory())
    form = {"name": "app", "path": "/srv/app", "max_concurrent_runs": "1"}
    form |= dict.fromkeys(["allowed_base_refs", "test_command", "lint_command", "runners"], "[]")

    answer = client.post("/admin/coding/repository/add/", form | {field: value})

    assert answer.status_code == 200
    assert reason in html.unescape(answer.text)
    assert not Repository.objects.exists()
