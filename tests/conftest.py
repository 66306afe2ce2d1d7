import os
import signal
import subprocess
from datetime import datetime

import pytest
from django.db import connections
from django.db.models.signals import pre_migrate

from opscore import embedded_db
from tests import clock as test_clock
from tests import flush as test_flush
from tests import template_db
from tests.channel_fakes import (  # noqa: F401 (fixtures: the publishing channels' fake network)
    bluesky_account,
    mastodon_account,
    network,
    webhook_account,
    x_account,
)
from tests.factories import AgentFactory, OperatorFactory
from tests.fake_sockets import Resolver


def install_test_clock(sender, using, **kwargs):
    test_clock.install(connections[using])


pre_migrate.connect(install_test_clock, dispatch_uid="tests.install_test_clock")
template_db.install()


@pytest.fixture(autouse=True, scope="session")
def suite_instant(django_db_setup, django_db_blocker):
    """`OPS_TEST_INSTANT=2027-01-01T03:59:00+00:00 pytest` runs every test with both clocks
    moved to that instant (and ticking): the proof that the suite passes on any date."""
    instant = os.environ.get("OPS_TEST_INSTANT")
    if not instant:
        yield
        return
    with django_db_blocker.unblock():
        traveller = test_clock.move_whole_run(datetime.fromisoformat(instant))
    yield
    traveller.stop()


@pytest.fixture(autouse=True, scope="session")
def flush_by_delete():
    """Transactional tests end by deleting their rows, not truncating every table: see
    tests/flush.py."""
    test_flush.install()
    yield
    test_flush.uninstall()


@pytest.fixture(autouse=True)
def stop_signals_as_they_were():
    """Each test ends with SIGINT and SIGTERM handled as when it began: a command a test runs
    in this process (`work`, `deliver`) installs its stop handlers and, on its way out, ignores
    both (opscore.stopping), so a later test's Ctrl-C (a fake pg_dump's `kill -INT $PPID`) was
    never raised, and which tests the worker had run before decided whether it passed."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        if handler is not None:
            signal.signal(signum, handler)


@pytest.fixture(autouse=True)
def nothing_cached_on_time_before():
    """Each test starts with the process caches that are dated on time.monotonic() empty: a
    test that fakes that clock (e.g. tests/fake_sockets.py's Clock, at 1000 s and up) dates
    what it caches on the fake one, and on a machine up for less time the real clock is behind
    it, so an earlier test's derived voice, policy or statistics would be served as fresh long
    after that test, whatever the rows now say."""
    from memory.embeddings import forget_query_vectors
    from memory.retrieval import forget_common_lexemes
    from missions.staleness import forget_policy
    from opscore.prompting import forget_derived_voices

    for forget in (forget_derived_voices, forget_common_lexemes, forget_query_vectors):
        forget()
    forget_policy()


@pytest.fixture(autouse=True, scope="session")
def nobody_left_on_the_test_database(django_db_setup, django_db_blocker):
    """At the end of the run, the sessions still on this worker's test database are ended
    before it is dropped: a daemon thread's connection (the lease keeper's, made in the step
    that started it) otherwise leaves the database behind with a warning that it 'is being
    accessed by other users'."""
    yield
    with django_db_blocker.unblock(), connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def clock(db):
    """Both clocks (Python's and the database's) pinned for this test: see tests/clock.py."""
    pinned = test_clock.Clock()
    yield pinned
    pinned.stop()


@pytest.fixture
def agent(db):
    return AgentFactory(slug="devops")


@pytest.fixture
def crew(db):
    """Four agents who can hold any small-format conversation."""
    return [
        AgentFactory(slug=s, signature=f"{s} here")
        for s in ("coordinator", "devops", "research", "security")
    ]


@pytest.fixture(autouse=True)
def a_persons_wait_is_not_the_machines_speed(settings):
    """A chat message or thread remark gives its model call OPS_TALK_DEADLINE_SECONDS (20 s)
    from when the person asked, on the real monotonic clock, and the answer is built from
    rows read inside it: on a loaded machine a chat test's answer took past it and the test
    failed for the machine's speed. Tests of that deadline set it themselves (on a fake clock)."""
    settings.OPS_TALK_DEADLINE_SECONDS = 3600


@pytest.fixture(autouse=True)
def backups_in_tmp(settings, tmp_path):
    """Backups a test takes (the phase-1 orders run for real) never land in the checkout."""
    settings.OPS_BACKUP_DIR = tmp_path / "backups"


@pytest.fixture(autouse=True)
def coding_in_tmp(settings, tmp_path):
    """Coding runs live in the test's tmp; the box may read this interpreter (the fake
    harness and the test repositories' tests run on it) and the fake harness's folder."""
    from tests.coding_support import BOX_READS

    settings.OPS_CODING_DIR = tmp_path / "coding"
    settings.OPS_CODING_READ_PATHS = BOX_READS
    yield
    from coding.spare import discard, take_spare

    discard(take_spare())  # the box builder a driver keeps waiting is one test's, not the next's


@pytest.fixture
def hung_resolver(monkeypatch):
    """A resolver that does not answer names under .hung.test until the test is over (or lets
    it), when every lookup it held has finished (tests/fake_sockets.Resolver)."""
    resolver = Resolver().install(monkeypatch)
    yield resolver
    resolver.answer()


@pytest.fixture
def operator(db):
    return OperatorFactory()


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


def pytest_sessionfinish(session, exitstatus):
    embedded_db.stop_if_started_here()


def sh(*args, cwd):
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def git_repo(tmp_path, settings):
    """A real git repository with one commit, registered for the coding lane."""
    from coding.models import Repository

    settings.OPS_CODING_DIR = tmp_path / "coding"
    path = tmp_path / "repo"
    path.mkdir()
    sh("git", "init", "-q", "-b", "main", cwd=path)
    (path / "app.py").write_text("print('hello')\n")
    sh("git", "add", ".", cwd=path)
    sh("git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "init", cwd=path)
    return Repository.objects.create(
        name="app", path=str(path), allowed_base_refs=["main"], runners=["command"]
    )


@pytest.fixture
def coding_repo(git_repo, settings, monkeypatch):
    """`git_repo` with the fake harness as its `command` runner, its app as the test, and
    secrets seeded in the environment the harness must never see."""
    import sys

    from tests.coding_support import HARNESS

    settings.OPS_CODING_RUNNERS = {"command": HARNESS}
    monkeypatch.setenv("OPS_API_TOKEN", "seeded-secret-token-0123456789abcdef")
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/x")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-seeded")
    git_repo.test_command = [sys.executable, "app.py"]
    git_repo.save()
    return git_repo


def pytest_collection_modifyitems(config, items):
    """The tests that start processes or drive a browser (a few seconds to a minute each) run
    first, handed out a few at a time (`make test`'s --maxschedchunk), so they spread over the
    workers from the start; last, one of them kept a worker busy while the others sat idle."""

    def waits_long(item) -> bool:
        return any(item.get_closest_marker(mark) for mark in ("slow", "browser"))

    items.sort(key=lambda item: not waits_long(item))
