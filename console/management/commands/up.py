"""`make run`: migrate, bootstrap an empty database, make an admin, then serve and work.

The web server (ASGI, for Channels) and the django-q2 cluster run as child processes; if either
exits, the other is stopped too, so a half-running system never hides behind a live page.
"""

import os
import secrets
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django_q.tasks import async_task

from console.bootstrap import bootstrap
from console.schedules import ensure_system_schedules
from missions.actions import submit_proposal
from missions.models import ProposalSource
from opscore.models import Agent
from opscore.schedules import sync_order_schedules


class Command(BaseCommand):
    help = "Set up the database and start the web server and the workers."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("OPS_HOST", "127.0.0.1"))
        parser.add_argument("--port", default=os.environ.get("OPS_PORT", "8000"))
        parser.add_argument("--no-serve", action="store_true", help="set up, then exit")

    def handle(self, *args, **opts):
        call_command("migrate", interactive=False, verbosity=0)
        if not Agent.objects.exists():
            report = bootstrap(1, actor="system:make-run")
            self.stdout.write(f"Bootstrapped phase 1: enabled {', '.join(report.agents_enabled)}")
            self.propose_first_work()
        ensure_system_schedules()
        sync_order_schedules()
        async_task("missions.tasks.top_up_workers")  # start workers now, not at the next tick
        self.ensure_admin()
        self.print_banner(opts["host"], opts["port"])
        if not opts["no_serve"]:
            sys.exit(self.serve(opts["host"], opts["port"]))

    def propose_first_work(self):
        """A fresh install shows work moving at once, through the same intake as anything."""
        for agent, title, steps in [
            (
                "devops",
                "Review the new installation",
                [{"kind": "analyze", "payload": {"topic": "a fresh Opscore installation"}}],
            ),
            (
                "publisher",
                "Draft a hello tweet",
                [{"kind": "draft_tweet", "payload": {"topic": "our operations core is live"}}],
            ),
        ]:
            data = {"agent": agent, "title": title, "steps": steps}
            proposal = submit_proposal(data, source=ProposalSource.HUMAN, cause_ref="make-run")
            self.stdout.write(
                f"First work: P{proposal.proposal.id} {title} ({proposal.proposal.status})"
            )

    def ensure_admin(self):
        users = get_user_model()
        name = os.environ.get("OPS_ADMIN_USER", "admin")
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                f"Admin login: existing superuser (password was printed on first run; "
                f"reset with: .venv/bin/python manage.py changepassword {name})"
            )
            return
        password = os.environ.get("OPS_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser(name, "", password)
        shown = "(from OPS_ADMIN_PASSWORD)" if os.environ.get("OPS_ADMIN_PASSWORD") else password
        self.stdout.write(self.style.SUCCESS(f"Admin login: {name} / {shown}  (shown once)"))

    def print_banner(self, host, port):
        base = f"http://{host}:{port}"
        self.stdout.write(f"Opscore at {base}/admin/  status: {base}/api/ops/status")
        self.stdout.write(f"API token (OPS_API_TOKEN): {settings.OPS_API_TOKEN or '(unset)'}")
        if settings.OPSCORE_LLM == "offline":
            self.stdout.write(
                self.style.WARNING(
                    "LLM provider: OFFLINE (no ANTHROPIC_API_KEY): replies are deterministic "
                    "stand-ins marked [offline]. Set ANTHROPIC_API_KEY or OPSCORE_LLM=ollama."
                )
            )
        else:
            self.stdout.write(f"LLM provider: {settings.OPSCORE_LLM}")
        self.stdout.write(
            "Try: curl -H 'Authorization: Bearer $OPS_API_TOKEN'"
            " -H 'Content-Type: application/json'"
            f' -d \'{{"agent":"devops","title":"Check disks","steps":[{{"kind":"analyze"}}]}}\''
            f" {base}/api/ops/proposals"
        )

    def serve(self, host, port) -> int:
        children = start_children(host, port)
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.5)
        stop_children(children)
        return 0 if stopping else 1


def start_children(host: str, port: int) -> list[subprocess.Popen]:
    python = sys.executable
    uvicorn = [python, "-m", "uvicorn", "console.asgi:application", "--host", host]
    return [
        # Its own process group, so a cluster that will not stop in time goes whole:
        # killing only its main process would orphan the worker processes below it.
        subprocess.Popen([python, "manage.py", "qcluster"], start_new_session=True),
        subprocess.Popen([*uvicorn, "--port", str(port), "--log-level", "info"]),
    ]


def stop_children(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            signal_child(child, signal.SIGINT)  # qcluster and uvicorn both stop gracefully
    for child in children:
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:  # steps it held are reaped when leases expire
            signal_child(child, signal.SIGKILL)
            child.wait()


def signal_child(child: subprocess.Popen, signum: int) -> None:
    """Signal a child's whole process group when it leads one (the cluster: its worker
    sessions finish their current step on SIGINT), else the child alone."""
    try:
        if os.getpgid(child.pid) == child.pid:
            os.killpg(child.pid, signum)
        else:
            child.send_signal(signum)
    except ProcessLookupError:
        pass
