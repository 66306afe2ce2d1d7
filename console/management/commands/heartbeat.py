from opscore.cli import OpsCommand, dump
from opscore.heartbeat import run_heartbeat


class Command(OpsCommand):
    help = "Run the heartbeat's duties once and record an ActionRun."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        run = run_heartbeat("cli")
        if opts["json"]:
            self.stdout.write(dump(run.as_json()))
            return
        self.stdout.write(f"Heartbeat #{run.id}: {run.status} {run.reason}".rstrip())
        for item in run.duties:
            detail = readable(item.get("counts")) or item.get("error") or item.get("detail") or ""
            took = f"{item.get('duration_ms', 0)} ms"
            self.stdout.write(f"  {item['name']:<28} {item['status']:<8} {took:>8}  {detail}")


def readable(counts) -> str:
    """`fired 2, skipped 5, rules (11)`: numbers and words as they are, long parts counted
    (`--json` has them whole)."""
    if not isinstance(counts, dict):
        return str(counts or "")
    parts = []
    for key, value in counts.items():
        if isinstance(value, list | dict):
            parts.append(f"{key} ({len(value)})" if value else f"{key} none")
        else:
            parts.append(f"{key} {value}")
    return ", ".join(parts)[:300]
