"""What a harness writes is untrusted text: the key it was passed (OPS_CODING_PASS_ENV) stays
masked in every row, event and reviewer's prompt made of it, however the harness dresses it —
JSON-escaped in its stream, as a file's name, a link's name or its `.git` pointer's text.

The hostile harness (tests/fake_harness/hostile.py) reads its own key from its environment;
the test looks for it in what Opscore kept. Nor does the box show it the operator's keys: the
repository's config (a remote's credentials) is left out of the git directory it reads.
"""

import base64
import json

import pytest

from coding.review import result_of
from opscore.models import Event
from tests.coding.test_coding_sandbox import attack, findings, pytestmark  # noqa: F401
from tests.conftest import sh

KEY = "sk-openai-seeded-0123456789"


@pytest.fixture
def keyed(attack, settings, monkeypatch):  # noqa: F811
    """The hostile harness, passed a key of its own."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    settings.OPS_CODING_PASS_ENV = ["OPENAI_API_KEY"]

    def send(*attempts):
        return attack(*attempts, key_name="OPENAI_API_KEY")

    return send


def kept(run) -> list[str]:
    """Everything Opscore keeps of the run that holds the key readable."""
    texts = [run.reason, run.result_summary, run.external_session_id, json.dumps(run.diff_stats)]
    texts += [json.dumps(result_of(run))]  # what the reviewing agent is shown
    texts += [i.output_summary for i in run.iterations.all()]
    texts += [f"{e.title} {e.summary} {e.payload}" for e in Event.objects.all()]
    return [text for text in texts if KEY in text]


def test_a_key_json_escaped_in_the_harness_stream_is_masked_once_decoded(keyed):
    run = keyed("key_escaped_in_result")

    assert run.status == "waiting_for_review", run.reason
    assert kept(run) == []
    assert run.result_summary == "my key [redacted]"


def test_a_key_base64d_in_the_harness_stream_is_masked(keyed):
    """Wrapped so that none of it is verbatim, at two of the three places a base64 group
    may start it; sixteen characters of each wrapping encode the key's bytes alone."""
    run = keyed("key_wrapped_in_result")
    wrapped = [base64.b64encode(b"key:" + KEY.encode()).decode()[8:24]]
    wrapped += [base64.urlsafe_b64encode(b"k" + KEY.encode()).decode()[4:20]]

    assert run.status == "waiting_for_review", run.reason
    assert "[redacted]" in run.result_summary and "[redacted]" in run.external_session_id
    texts = " ".join([run.result_summary, run.external_session_id, json.dumps(result_of(run))])
    assert [chunk for chunk in wrapped if chunk in texts] == []


def test_a_key_as_a_file_name_is_masked_in_the_changed_files(keyed):
    run = keyed("key_as_file_name")

    assert run.status == "waiting_for_review", run.reason
    assert kept(run) == []
    assert "[redacted].txt" in run.diff_stats["files"]


def test_a_key_as_the_name_of_a_link_out_is_masked_in_the_runs_failure(keyed):
    run = keyed("key_as_link_name")

    assert run.status == "failed" and "symlink pointing outside" in run.reason, run.reason
    assert kept(run) == []


def test_a_key_as_the_git_pointers_text_is_masked_in_the_runs_failure(keyed):
    run = keyed("key_in_git_pointer")

    assert run.status == "failed" and "tampered with" in run.reason, run.reason
    assert kept(run) == []


def test_the_repositorys_config_and_its_credentials_are_not_in_the_harnesss_box(attack):  # noqa: F811
    token = attack.targets["marker"]
    url = f"https://bot:{token}@git.example.com/team/app.git"
    sh("git", "config", "remote.origin.url", url, cwd=attack.repo)
    sh("git", "config", "http.extraHeader", f"AUTHORIZATION: bearer {token}", cwd=attack.repo)

    run = attack("repository_config")

    seen = findings(run)["repository_config"]
    assert seen.startswith("blocked") and "repositoryformatversion = 0" in seen, seen
    assert token not in json.dumps(findings(run))
    assert run.status == "waiting_for_review", run.reason  # its own git still works


def test_a_key_in_why_a_merge_was_refused_is_masked_in_the_voided_approval(
    coding_repo, settings, monkeypatch
):
    from coding import driver
    from coding.models import CodingApproval
    from coding.operations import approve_run
    from tests.coding_support import new_run

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    settings.OPS_CODING_PASS_ENV = ["OPENAI_API_KEY"]
    run = new_run(coding_repo, "@greet", allow_merge=True)
    assert driver.handle_one_run()
    run.refresh_from_db()
    approve_run(run, "code", by="ana")
    approve_run(run, "merge", by="ana")

    def merge_naming_a_harness_file(run):  # an error quoting a file the harness named
        raise OSError(36, "File name too long", f"{run.worktree_path}/{KEY * 20}.txt")

    monkeypatch.setattr(driver, "merge", merge_naming_a_harness_file)
    assert driver.handle_one_run()

    refused = CodingApproval.objects.get(kind="merge")
    run.refresh_from_db()
    assert refused.voided_at is not None and "merge refused: the merge hit" in refused.void_reason
    assert "[redacted]" in refused.void_reason, refused.void_reason
    assert KEY[:12] not in refused.void_reason and KEY[:12] not in run.reason
    assert kept(run) == []
