"""Executors that need nothing outside the database."""

from missions.executors import Blocked, Succeeded, executor_for


@executor_for("noop")
def run_noop(run):
    return Succeeded({"ok": True})


def _not_yet(run):
    return Blocked(f"no executor for {run.step.kind} is installed yet", code="no_executor")


_not_yet.placeholder = True


for _kind in ("analyze", "write_content", "draft_tweet", "crawl", "post_tweet", "deploy"):
    executor_for(_kind)(_not_yet)
