"""Coding harnesses by runner name: how to call each one and how to read what it printed.

The binary is the operator's (settings.OPS_CODING_RUNNERS names its argv); Opscore adds the
flags that bound a pass (turns, budget, sandbox) and reads cost and session id from the
harness's own stream. What a harness prints never decides whether the work is done: the loop's
tests do.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from django.conf import settings

from coding.sandbox import HarnessMissing
from coding.watch import unsaid
from opscore.registry import Registry


@dataclass(frozen=True)
class Pass:
    """What a runner needs for one pass."""

    prompt: str
    max_turns: int
    budget_usd: float


@dataclass(frozen=True)
class Report:
    """What a runner made of one pass's output."""

    summary: str = ""
    cost_usd: Decimal = Decimal("0")
    session_id: str = ""
    harness_error: str = ""


@dataclass(frozen=True)
class Runner:
    flags: Callable[[Pass], list[str]]
    read: Callable[[str], Report]


def json_lines(output: str):
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                yield item


def usd(value) -> Decimal:
    try:
        return max(Decimal(str(value)), Decimal("0")).quantize(Decimal("0.0001"))
    except (InvalidOperation, ValueError, TypeError):
        return Decimal("0")


def read_claude_stream(output: str) -> Report:
    """Claude Code's `--output-format stream-json`: the `result` message carries the cost, the
    session id, the final text and whether it ended in error. Any process in the box can
    print into the same stream, so of several `result`s the costliest (the last of equals)
    counts: a forged one can raise the spend recorded, never hide it."""
    results = [m for m in json_lines(output) if m.get("type") == "result"]
    result = max(reversed(results), key=lambda m: usd(m.get("total_cost_usd", 0)), default=None)
    if result is None:
        return Report(summary=output[-1000:], harness_error="no result message in the stream")
    error = result.get("subtype") if result.get("is_error") else ""
    return Report(
        summary=str(result.get("result") or "")[:4000],
        cost_usd=usd(result.get("total_cost_usd", 0)),
        session_id=str(result.get("session_id") or "")[:200],
        harness_error=str(error or ""),
    )


def read_codex_stream(output: str) -> Report:
    """`codex exec --json`: a thread id, agent messages, and turn.failed / error on failure.
    Codex reports tokens, not dollars, so its cost is counted as zero."""
    session, said, error = "", [], ""
    for event in json_lines(output):
        kind = event.get("type")
        if kind == "thread.started":
            session = str(event.get("thread_id") or "")
        elif kind == "item.completed" and (event.get("item") or {}).get("type") == "agent_message":
            said.append(str(event["item"].get("text") or ""))
        elif kind in ("turn.failed", "error"):
            error = str((event.get("error") or {}).get("message") or event.get("message") or kind)
    return Report(summary="\n".join(said)[-4000:], session_id=session[:200], harness_error=error)


def read_plain(output: str) -> Report:
    """Any command: Claude's stream shape if it prints one, else the tail of its output."""
    if any(m.get("type") == "result" for m in json_lines(output)):
        return read_claude_stream(output)
    return Report(summary=output[-2000:])


def claude_flags(p: Pass) -> list[str]:
    bounds = ["--max-turns", str(p.max_turns), "--max-budget-usd", f"{max(p.budget_usd, 0.01):.2f}"]
    return ["-p", "--output-format", "stream-json", "--verbose", *bounds, "--", p.prompt]


def codex_flags(p: Pass) -> list[str]:
    return ["exec", "--json", "--sandbox", "workspace-write", "--", p.prompt]


RUNNERS: Registry = Registry("coding runner")
BUILTIN = {
    "claude-code": Runner(claude_flags, read_claude_stream),
    "codex": Runner(codex_flags, read_codex_stream),
    "command": Runner(lambda p: [p.prompt], read_plain),
}


# The setting that names each built-in runner's harness, so a run blocked for want of one says
# which variable to set rather than a family of six.
HARNESS_SETTING = {
    "claude-code": "OPS_CODING_CLAUDE",
    "codex": "OPS_CODING_CODEX",
    "command": "OPS_CODING_COMMAND",
}


def argv_for(runner: str, one_pass: Pass) -> list[str]:
    configured = settings.OPS_CODING_RUNNERS.get(runner)
    if not configured:
        setting = HARNESS_SETTING.get(runner, "its OPS_CODING_* setting")
        raise HarnessMissing(
            f"no harness is configured for runner {runner!r}: set {setting} where the coding "
            "driver runs (make run), then `coding retry` the run"
        )
    return [*configured, *RUNNERS[runner].flags(one_pass)]


def read_output(runner: str, output: str) -> Report:
    """What the runner made of the output, masked again once decoded: the output was masked
    as printed, and a key the harness JSON-escaped there (`\\u0073k-…`) is no key to that mask,
    but one again in the strings a stream's messages decode to."""
    report = RUNNERS[runner].read(output)
    return replace(
        report,
        summary=unsaid(report.summary),
        session_id=unsaid(report.session_id)[:200],
        harness_error=unsaid(report.harness_error),
    )
