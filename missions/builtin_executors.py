"""Executors shipped with Opscore."""

import missions.work_executors  # noqa: F401 - registers analyze, crawl, post_tweet, deploy …
from missions.executors import Succeeded, executor_for


@executor_for("noop")
def run_noop(run):
    return Succeeded({"ok": True})
