"""A comment added in the admin: the agent's reply (a model call, up to its deadline) is asked
for after the comment is committed, never inside the admin page's transaction, which would
hold the sender's lock (and every row the comment wrote) for as long as the model took."""

import pytest
from django.db import connection

from missions import threads
from missions.models import Comment
from tests.factories import AgentFactory, make_step


def locks_held() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT locktype FROM pg_locks WHERE pid = pg_backend_pid() AND granted"
            " AND locktype IN ('advisory', 'transactionid')"
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_the_admins_comment_is_committed_before_the_agent_is_asked_to_reply(
    admin_client, monkeypatch
):
    step = make_step("analyze", agent=AgentFactory(slug="devops"))
    seen = []
    replying = threads.reply_to

    def watched(comment, subject):
        seen.append((locks_held(), Comment.objects.filter(pk=comment.pk).exists()))
        return replying(comment, subject)

    monkeypatch.setattr(threads, "reply_to", watched)

    answer = admin_client.post(
        "/admin/missions/comment/add/",
        {"subject_kind": "mission", "subject_id": step.mission_id, "text": "from the admin"},
    )

    assert answer.status_code == 302
    assert seen == [([], True)]
    assert Comment.objects.get(kind="remark").replies.count() == 1
