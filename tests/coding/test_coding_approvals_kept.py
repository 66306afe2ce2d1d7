"""A human's approval is audit evidence: deleting its run from code must not take it along.
The admin never deletes runs; the database refuses too (PROTECT), as for trigger skips."""

import pytest
from django.db.models import ProtectedError

from coding.models import CodingApproval, CodingRun, Repository

pytestmark = pytest.mark.django_db


def test_the_database_keeps_the_approvals_when_code_deletes_their_run():
    repo = Repository.objects.create(name="app", path="/tmp/nowhere", allowed_base_refs=["main"])
    run = CodingRun.objects.create(repository=repo, runner="command", base_ref="main", task={})
    CodingApproval.objects.create(run=run, kind="code", sha="abc123", approved_by="ana")

    with pytest.raises(ProtectedError):
        run.delete()
    with pytest.raises(ProtectedError):
        CodingRun.objects.filter(pk=run.pk).delete()

    assert CodingApproval.objects.get().run_id == run.pk
