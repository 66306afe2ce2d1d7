"""A conversation whose process was stopped mid-way (killed after the shutdown grace) is failed
at the next start, with its reason, instead of staying `running` until its lease runs out."""

import os
import socket

import pytest

from opscore.models import Event
from roundtable.lifecycle import fail_orphaned_conversations
from roundtable.models import Conversation

pytestmark = pytest.mark.django_db
GONE = 999_999_999  # no process has this pid


def running(owner: str) -> Conversation:
    return Conversation.objects.create(
        format="debate",
        topic="t",
        participants=["devops", "security"],
        status="running",
        lease_owner=owner,
    )


def alive(pid: int) -> bool:
    return pid != GONE


def test_a_conversation_left_running_by_a_stopped_process_fails_at_start_up():
    host = socket.gethostname()
    orphan = running(f"{host}:{GONE}")

    assert fail_orphaned_conversations(host, alive) == 1

    orphan.refresh_from_db()
    assert (orphan.status, orphan.lease_owner) == ("failed", "")
    assert orphan.error == f"worker {host}:{GONE} stopped before finishing (found at start-up)"
    assert Event.objects.filter(kind="conversation.failed").count() == 1


def test_live_processes_and_other_machines_keep_their_conversations():
    host = socket.gethostname()
    mine, elsewhere = running(f"{host}:{os.getpid()}"), running(f"other-host:{GONE}")

    assert fail_orphaned_conversations(host, alive) == 0

    statuses = Conversation.objects.filter(pk__in=[mine.pk, elsewhere.pk]).values_list(
        "status", flat=True
    )
    assert set(statuses) == {"running"}
