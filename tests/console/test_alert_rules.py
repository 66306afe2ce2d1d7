"""The alert rules in deploy/ fire when, and only when, their summary is true: each test feeds
`promtool test rules` the series a scrape would give over time."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES = Path(__file__).resolve().parents[2] / "deploy/prometheus/opscore-rules.yml"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    not PROMTOOL, reason="promtool not installed (Debian: apt-get install prometheus)"
)
FAILING = {"severity": "ticket"}, {"summary": "Over half of LLM calls are failing"}


def alerts_at(tmp_path, series: dict[str, str], alert: str, expected: list) -> str:
    """promtool's verdict (empty when the alert fired exactly as `expected` at 30 min)."""
    spec = {
        "rule_files": [str(RULES)],
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "alert_rule_test": [
                    {"eval_time": "30m", "alertname": alert, "exp_alerts": expected}
                ],
            }
        ],
    }
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(spec))
    checked = subprocess.run(
        [PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    return "" if checked.returncode == 0 else checked.stdout + checked.stderr


def calls(outcome: str) -> str:
    labels = f'scope="database",provider="anthropic",lane="steps",outcome="{outcome}"'
    return f"opscore_llm_calls_total{{{labels}}}"


def test_calls_refused_by_the_budget_are_not_llm_errors(tmp_path):
    """A lane at its hard budget records each refused call as `over_budget`: no call was
    made and nothing failed (the budget alert says so); it paged "over half of LLM calls are
    failing"."""
    series = {calls("ok"): "0+10x40", calls("over_budget"): "0+30x40"}

    assert alerts_at(tmp_path, series, "OpscoreLLMErrors", []) == ""


def test_calls_that_fail_are_llm_errors(tmp_path):
    series = {calls("ok"): "0+10x40", calls("error"): "0+20x40", calls("over_budget"): "0+9x40"}
    labels, annotations = FAILING
    fired = [{"exp_labels": labels, "exp_annotations": annotations}]

    assert alerts_at(tmp_path, series, "OpscoreLLMErrors", fired) == ""
