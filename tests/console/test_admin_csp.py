"""The admin renders what models, crawled pages and outside runtimes wrote, for the people with
the most authority: its pages carry the Stage's Content-Security-Policy (no inline scripts or
styles, no third-party images, never framed), so one escaping slip is not a script running
as an operator. Its own pages keep their looks in admin.css, not in inline styles the policy
refuses."""

import re

import pytest
from django.urls import reverse

from coding.models import Repository
from memory.models import MemoryCandidate
from tests.coding_support import new_run
from tests.factories import make_step, propose

pytestmark = pytest.mark.django_db
INLINE = re.compile(r"<style|\sstyle=|<script(?![^>]*\ssrc=)")


def assert_strict(page):
    assert page.status_code == 200
    policy = page.headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert INLINE.findall(page.content.decode()) == []


def test_the_admins_index_and_lists_forbid_inline_scripts(admin_client):
    for path in ("/admin/", "/admin/missions/proposal/", "/admin/opscore/event/"):
        assert_strict(admin_client.get(path))


def test_a_proposals_decision_page_keeps_its_looks_without_inline_styles(admin_client, agent):
    proposal = propose(agent, "post_tweet")

    assert_strict(admin_client.get(reverse("admin:missions_proposal_change", args=[proposal.id])))


def test_a_steps_page_keeps_its_looks_without_inline_styles(admin_client, agent):
    step = make_step("post_tweet", agent=agent, payload={"text": "Hello"})

    assert_strict(admin_client.get(reverse("admin:missions_step_change", args=[step.id])))


def test_a_coding_runs_page_and_its_diff_keep_their_looks_without_inline_styles(
    admin_client, tmp_path
):
    repo = Repository.objects.create(name="app", path=str(tmp_path), allowed_base_refs=["main"])
    run = new_run(repo, "hello")

    assert_strict(admin_client.get(reverse("admin:coding_codingrun_change", args=[run.id])))


def test_a_memory_candidates_decision_page_keeps_its_looks_without_inline_styles(
    admin_client, agent
):
    candidate = MemoryCandidate.objects.create(
        source_agent=agent, kind="lesson", title="Disks fill", body="At night", confidence="0.8"
    )

    page = admin_client.get(reverse("admin:memory_memorycandidate_decide", args=[candidate.id]))

    assert_strict(page)
