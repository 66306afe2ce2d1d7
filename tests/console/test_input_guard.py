"""A NUL in an address, a query or a form field is a 400 naming where it was, before any view
runs, and nothing is written: forms reach PostgreSQL by roads the JSON boundary never sees."""

import pytest

from missions.models import Proposal
from opscore.models import Event
from tests.factories import make_step, propose

pytestmark = pytest.mark.django_db
TOKEN = "guard-token-0123456789-0123456789"


@pytest.mark.parametrize(
    "form",
    [
        {"decision": "approve", "digest": "ab\x00cd"},
        {"decision": "reject", "reason": "no\x00thanks"},
    ],
)
def test_an_approval_card_sending_a_nul_is_a_400_and_decides_nothing(admin_client, agent, form):
    pending = propose(agent, "post_tweet")

    answer = admin_client.post(f"/stage/approvals/{pending.id}", form)

    assert answer.status_code == 400
    assert "NUL" in answer.content.decode()
    assert Proposal.objects.get(pk=pending.pk).status == "pending"
    assert not Event.objects.filter(kind="proposal.decision_refused").exists()


def test_a_nul_in_an_api_query_is_a_json_400(client, settings):
    settings.OPS_API_TOKEN = TOKEN

    answer = client.get("/api/ops/chat?actor=%00", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert answer.status_code == 400
    assert answer.json()["errors"] == {"actor": ["contains a NUL character (\\u0000)"]}


def test_a_multipart_body_to_the_api_is_still_read_by_the_api(client, settings):
    settings.OPS_API_TOKEN = TOKEN

    answer = client.post(
        "/api/ops/proposals", {"agent": "x\x00"}, HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )

    assert answer.status_code == 400 and "not valid JSON" in str(answer.json()["errors"])


def test_a_thread_answer_that_is_not_a_question_id_is_a_400(admin_client, agent):
    step = make_step("analyze", agent=agent)

    answer = admin_client.post(
        f"/stage/threads/mission/{step.mission_id}/comment", {"text": "hi", "answers": "first"}
    )

    assert answer.status_code == 400
    assert "expected a question id" in answer.content.decode()


@pytest.mark.parametrize(
    "body",
    [
        b"agent=devops&kind=analyze&title=%ED%A0%80",  # a lone surrogate, percent-encoded
        b"agent=devops&kind=analyze&title=%FF%FE",  # not UTF-8 at all
        b"agent=devops&kind=analyze&title=\xe9t\xe9",  # Latin-1 bytes, sent raw
    ],
)
def test_a_form_body_that_is_not_utf8_is_refused_not_repaired(admin_client, agent, body):
    """Read leniently, the bytes became U+FFFD and a task titled '���' was accepted."""
    answer = admin_client.post(
        "/stage/task", body, content_type="application/x-www-form-urlencoded"
    )

    assert answer.status_code == 400
    assert "not valid UTF-8" in answer.content.decode()
    assert not Proposal.objects.exists()


def test_a_query_that_is_not_utf8_is_refused_and_a_utf8_one_is_read(client, settings):
    settings.OPS_API_TOKEN = TOKEN
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}

    bad = client.get("/api/ops/chat?actor=%FF", **auth)
    good = client.get("/api/ops/chat?actor=b%C3%A9a", **auth)

    assert bad.status_code == 400
    assert bad.json()["errors"] == {"actor": ["not valid UTF-8"]}
    assert good.status_code == 200


def multipart(*fields: tuple[bytes, bytes], boundary: bytes = b"guard") -> bytes:
    """A multipart/form-data body from (header parameters, content) pairs, byte for byte."""
    parts = [
        b"--%s\r\nContent-Disposition: form-data; %s\r\n\r\n%s\r\n" % (boundary, params, content)
        for params, content in fields
    ]
    return b"".join(parts) + b"--%s--\r\n" % boundary


TASK = ((b'name="agent"', b"devops"), (b'name="kind"', b"analyze"))


def post_multipart(client, *fields):
    body = multipart(*TASK, *fields)
    return client.post("/stage/task", body, content_type="multipart/form-data; boundary=guard")


@pytest.mark.parametrize(
    "field, named",
    [
        ((b'name="title"', b"\xff\xfe"), "title"),  # not UTF-8 at all
        ((b'name="title"', b"\xe9t\xe9"), "title"),  # Latin-1 bytes
        ((b'name="analyze-topic"', b"\xed\xa0\x80"), "analyze-topic"),  # a lone surrogate
        ((b'name="ti\xfftle"', b"Check"), "a field's name"),  # Django dropped the field
        ((b"name*=UTF-8''ti%FFtle", b"Check"), "a field's name"),  # an RFC 2231 name
    ],
)
def test_a_multipart_form_that_is_not_utf8_is_refused_not_repaired(
    admin_client, agent, field, named
):
    """Django reads a multipart field's bytes as leniently as a url-encoded one's: the task was
    titled '��' (a field whose name was not UTF-8 was dropped without a word)."""
    answer = post_multipart(admin_client, (b'name="title"', b"Check"), field)

    assert answer.status_code == 400
    assert answer.content.decode() == f"{named} not valid UTF-8."
    assert not Proposal.objects.exists()


def test_a_base64_multipart_field_is_checked_as_django_decodes_it(admin_client, agent):
    body = multipart(*TASK).replace(
        b"--guard--",
        b'--guard\r\nContent-Disposition: form-data; name="title"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n//4=\r\n--guard--",  # b"\xff\xfe"
    )

    answer = admin_client.post(
        "/stage/task", body, content_type="multipart/form-data; boundary=guard"
    )

    assert answer.status_code == 400
    assert not Proposal.objects.exists()


def test_a_utf8_multipart_form_is_read_and_a_files_bytes_are_not_text(admin_client, agent):
    picture = (b'name="picture"; filename="x.png"', b"\x89PNG\r\n\x1a\n\xff\x00\xfe")

    answer = post_multipart(admin_client, (b'name="title"', "Bérénice".encode()), picture)

    assert answer.status_code == 200
    assert Proposal.objects.get().title == "Bérénice"


def test_a_multipart_name_in_a_charset_nobody_knows_is_not_a_500(admin_client, agent):
    """Django drops a part it cannot read the header of; so does the guard, not raising."""
    answer = post_multipart(admin_client, (b"name*=no-such-charset''title", b"Check"))

    assert answer.status_code == 400  # the form's own answer: the title is missing
    assert 'class="give-task"' in answer.content.decode()
    assert not Proposal.objects.exists()
