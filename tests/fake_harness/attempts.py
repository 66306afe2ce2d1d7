"""How a hostile fake harness (hostile.py, prying.py) is sent and how it reports: the prompt
carries `@<its name>` and a JSON object of targets (its `attempts` among them); each attempt's
outcome goes into `findings.json` in the worktree ("ok: …" when it got what it tried for,
"blocked: …" when it did not), for the test to read."""

import json
import sys
from pathlib import Path


def sent(marker: str, cut: int = 500):
    """(targets, findings, attempt): what the prompt's `marker` line sends it at, the findings
    so far, and the decorator that runs an attempt if it was asked for and records how it went."""
    line = next(text for text in sys.argv[-1].splitlines() if f"{marker} " in text)
    targets = json.loads(line.split(f"{marker} ", 1)[1])
    findings = {}

    def attempt(name):
        def record(action):
            if name not in targets.get("attempts", []):
                return action
            try:
                findings[name] = f"ok: {action()}"[:cut]
            except Exception as error:  # every failure is a finding
                findings[name] = f"blocked: {type(error).__name__}: {error}"[:cut]
            Path("findings.json").write_text(json.dumps(findings, indent=1))
            return action

        return record

    return targets, findings, attempt
