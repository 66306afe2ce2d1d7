"""`make run`: migrate, bootstrap an empty database, make an admin, then serve and work.

The web server (ASGI, for Channels), one worker process per slot and the django-q2 cluster run
as supervised child processes (operations.supervisor): a worker or cluster that dies is replaced;
if the web server ends, everything stops, so a half-running system never hides behind a page.
"""

import errno
import json
import os
import secrets
import shlex
import socket
import sys

import psutil
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from console.bootstrap import bootstrap
from console.first_boot import run_first_boot_plan, start_first_boot_plan
from console.schedules import ensure_system_schedules
from operations.supervisor import Supervisor, standard_children
from opscore.cli import OpsCommand, bounded
from opscore.models import Agent
from opscore.schedules import sync_order_schedules
from roundtable.lifecycle import fail_orphaned_conversations


class Command(OpsCommand):
    help = "Set up the database and start the web server and the workers."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("OPS_HOST", "127.0.0.1"))
        parser.add_argument(  # argparse checks a string default too: OPS_PORT=99999 is refused
            "--port", type=bounded(1, 65535), default=os.environ.get("OPS_PORT", "8000")
        )
        parser.add_argument("--no-serve", action="store_true", help="set up, then exit")

    def handle(self, *args, **opts):
        if not opts["no_serve"]:
            refuse_a_taken_port(opts["host"], opts["port"])
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)  # whitenoise serves these
        if not Agent.objects.exists():
            report = bootstrap(1, actor="system:make-run")
            self.stdout.write(f"Bootstrapped phase 1: enabled {', '.join(report.agents_enabled)}")
            self.start_first_boot_plan()
        ensure_system_schedules()
        sync_order_schedules()
        orphans = fail_orphaned_conversations(socket.gethostname(), psutil.pid_exists)
        if orphans:
            self.stdout.write(f"Failed {orphans} conversation(s) a stopped process left running")
        login = self.ensure_admin()
        self.print_banner(opts["host"], opts["port"], login)
        if not opts["no_serve"]:
            sys.exit(self.serve(opts["host"], opts["port"]))

    def start_first_boot_plan(self):
        """A fresh install shows work moving at once: the first-boot plan's first items now,
        the rest each minute (schedule console.first_boot), all through the intake."""
        start_first_boot_plan(actor="system:make-run")
        started = run_first_boot_plan().get("started", [])
        self.stdout.write(
            f"First-boot plan: {len(started)} item(s) started, more each minute for ten minutes "
            "(switch off: policy first_boot_plan)"
        )

    def ensure_admin(self) -> str:
        """Make the first superuser; the login line is printed after the Stage URL."""
        users = get_user_model()
        name = os.environ.get("OPS_ADMIN_USER", "admin")
        superusers = users.objects.filter(is_superuser=True).order_by("-is_active", "pk")
        existing = superusers.filter(username=name).first() or superusers.first()
        if existing is not None:  # named as it is: OPS_ADMIN_USER may have changed since
            return (
                f"Admin login: existing superuser (password was printed on first run; "
                f"reset with: .venv/bin/opscore changepassword "
                f"{shlex.quote(existing.get_username())})"
            )
        password = os.environ.get("OPS_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser(name, "", password)
        shown = "(from OPS_ADMIN_PASSWORD)" if os.environ.get("OPS_ADMIN_PASSWORD") else password
        return f"Admin login: {name} / {shown}  (shown once)"

    def print_banner(self, host, port, login: str):
        base = f"http://{host}:{port}"
        self.stdout.write(f"Stage: {base}/stage/", self.style.SUCCESS)
        self.stdout.write(f"Admin: {base}/admin/  status: {base}/api/ops/status")
        self.stdout.write(login, self.style.SUCCESS if "(shown once)" in login else None)
        self.stdout.write(f"API token (OPS_API_TOKEN): {settings.OPS_API_TOKEN or '(unset)'}")
        if settings.OPSCORE_LLM == "offline":
            self.stdout.write(
                "LLM provider: OFFLINE (no ANTHROPIC_API_KEY): replies are deterministic "
                "stand-ins marked [offline]. Set ANTHROPIC_API_KEY or OPSCORE_LLM=ollama.",
                self.style.WARNING,
            )
        else:
            self.stdout.write(f"LLM provider: {settings.OPSCORE_LLM}")
        self.stdout.write(f"Try (as pasted): {try_command(base, settings.OPS_API_TOKEN)}")

    def serve(self, host, port) -> int:
        return Supervisor(standard_children(web_command(host, port))).run()


# The Stage's socket reads nothing a client sends (its first frame closes it), so the server
# need not take in uvicorn's default of 16 MiB of one first, per socket and from anyone.
WS_MAX_BYTES = 4096


def web_command(host, port) -> list[str]:
    """The web server as `make run` starts it."""
    web = [sys.executable, "-m", "uvicorn", "console.asgi:application", "--host", host]
    # Channels' router has no lifespan protocol: say so, rather than uvicorn probing it.
    web += ["--port", str(port), "--log-level", "info", "--lifespan", "off"]
    return [*web, "--ws-max-size", str(WS_MAX_BYTES)]


def refuse_a_taken_port(host: str, port) -> None:
    """Before anything starts or is printed: with the port taken, the banner used to show a
    Stage URL that answered someone else (or nothing) while the web server failed to bind. An
    address this machine does not have (a typo, another machine's) is named as such: another
    port would fail the same way."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except (OSError, ValueError) as taken:
            why = getattr(taken, "strerror", None) or taken
            elsewhere = isinstance(taken, socket.gaierror) or (
                getattr(taken, "errno", None) == errno.EADDRNOTAVAIL
            )
            fix = (
                "this machine has no such address: pick one it has, OPS_HOST=127.0.0.1 make run"
                if elsewhere
                else "stop what holds it, or pick another port: OPS_PORT=8001 make run"
            )
            raise CommandError(
                f"cannot serve on {host}:{port} ({why}): {fix}", returncode=2
            ) from None


def try_command(base: str, token: str) -> str:
    """A curl line that works as pasted: the token is in it (shell-quoted), not a variable the
    reader's shell does not have."""
    body = json.dumps({"agent": "devops", "title": "Check disks", "steps": [{"kind": "analyze"}]})
    return (
        f"curl -H {shlex.quote('Authorization: Bearer ' + (token or 'TOKEN'))}"
        f" -H 'Content-Type: application/json' -d {shlex.quote(body)} {base}/api/ops/proposals"
    )
