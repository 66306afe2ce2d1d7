import os
import select
import stat
from pathlib import Path

from missions.simulation import SimulationRefused, parse_since
from missions.simulation_report import simulate_policy
from missions.text import one_line, reveal_invisible
from opscore.cli import REFUSED, OpsCommand, bounded, dump, fail
from opscore.inputs import InputRefused, max_bytes, parse_json


def read_value(path: str, wait: float):
    """The edited value: a JSON file (`-` reads stdin), within the input limits: one byte past
    the limit is read, no more, so an endless file (/dev/zero, a pipe) is refused, not held."""
    try:
        with opened(Path("/dev/stdin" if path == "-" else path), path, wait) as handle:
            raw = handle.read(max_bytes() + 1)
    except OSError as error:
        raise SimulationRefused(f"--value {path}: {error.strerror}") from None
    try:
        return parse_json(raw, "value")
    except InputRefused as refused:
        raise SimulationRefused(f"--value {path}: {refused.message}") from None


def opened(path: Path, given: str, wait: float):
    """The file, opened without waiting for a writer: a FIFO no one writes to held open() for
    ever, saying nothing (a mistyped name, a writer that died). A pipe waits up to `wait`
    seconds for its first bytes (or its writer's end), then is read as before."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    is_pipe = stat.S_ISFIFO(os.fstat(descriptor).st_mode)
    if is_pipe and not select.select([descriptor], [], [], wait)[0]:
        os.close(descriptor)
        raise SimulationRefused(f"--value {given}: nothing was written to it in {wait:g} s")
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


class Command(OpsCommand):
    help = (
        "Replay the window's recorded proposals against an edited policy value and report "
        "what would have been decided differently. Writes nothing; saves nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("key", help="the policy key, e.g. content_policy")
        parser.add_argument("--value", required=True, metavar="FILE", help="JSON; - for stdin")
        parser.add_argument("--since", default="7d", help="window: 90m, 12h, 7d (default 7d)")
        parser.add_argument("--examples", type=bounded(0, 100), default=10, metavar="N")
        parser.add_argument(
            "--deadline",
            type=bounded(1, 3600, float, " seconds"),
            default=120.0,
            help="seconds, 1 to 3600 (default 120)",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        try:
            report = simulate_policy(
                opts["key"],
                read_value(opts["value"], opts["deadline"]),
                since=parse_since(opts["since"]),
                examples=opts["examples"],
                deadline_seconds=opts["deadline"],
            )
        except SimulationRefused as refused:
            fail(f"refused: {refused}", as_json=opts["json"], code=REFUSED)
        self.stdout.write(dump(report) if opts["json"] else describe(report))


def describe(report: dict) -> str:
    proposals = report["proposals"]
    lines = [
        f"{report['key']} over {report['window']['from']} → {report['window']['to']}",
        f"{proposals['replayed']} proposals replayed, {proposals['changed']} decided differently",
    ]
    if not report["simulated"]:
        lines.append(
            f"({report['key']} is not simulated: every decision here is as recorded, so this "
            "report cannot say what the value would change)"
        )
    if report["stopped"]:
        lines.append(f"INCOMPLETE: {report['stopped']}")
    for name, change in proposals["transitions"].items():
        lines.append(f"  {name}: {change['count']}")
        lines += [
            f"    P{e['proposal']} {printed(e['title'])} — {printed(e['reason'])}"
            for e in change["examples"]
        ]
    for rule, change in report["triggers"].items():
        lines.append(f"  triggered by {rule}: {change['count']} decided differently")
    for name, change in report["reactions"].items():
        lines.append(f"  reactions that {name.replace('_', ' ')}: {change['count']}")
        lines += [f"    event {e['event']} {printed(e['title'])}" for e in change["examples"]]
    off = report["steps_switched_off"]
    lines.append(f"steps that ran but would not have: {off['count']}")
    lines += [f"    S{e['step']} {e['kind']} ({e['status']})" for e in off["examples"]]
    spend = report["spend"]
    lines.append(
        f"spend: {usd(spend['avoided_usd'])} avoided, {usd(spend['added_estimate_usd'])} "
        f"estimated for new work, difference {usd(spend['difference_usd'], signed=True)}"
    )
    return "\n".join(lines)


def printed(text: str) -> str:
    """Someone's words on one report line (an event's title carries a thread remark): their
    line breaks and carriage returns would print lines that read as the report's own."""
    return reveal_invisible(one_line(str(text or "")))


def usd(amount: float, signed=False) -> str:
    """'$0.2500'; signed, '+$0.2500' or '-$0.2500', and '$0.0000' for what rounds to nothing
    (never '-$0.0000')."""
    shown = f"${abs(amount):.4f}"
    if not signed or shown == "$0.0000":
        return shown
    return f"{'+' if amount > 0 else '-'}{shown}"
