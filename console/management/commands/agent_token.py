"""Issue or revoke an agent API token from the shell (the admin does the same): the secret is
printed once, on issue, and never stored."""

from django.core.management.base import BaseCommand, CommandError

from console.models import AgentToken
from opscore.management.commands._verbs import add_verbs
from opscore.models import Agent


class Command(BaseCommand):
    help = "Issue (prints the secret once) or revoke an agent's API token."

    def add_arguments(self, parser):
        verbs = add_verbs(parser)
        issue = verbs.add_parser("issue")
        issue.add_argument("agent")
        issue.add_argument("--name", required=True, help="which runtime holds it")
        issue.add_argument("--operator", default="cli")
        revoke = verbs.add_parser("revoke")
        revoke.add_argument("token_id", type=int)
        revoke.add_argument("--operator", default="cli")

    def handle(self, *args, verb, operator, **opts):
        if verb == "issue":
            agent = Agent.objects.filter(slug=opts["agent"]).first()
            if agent is None:
                raise CommandError(f"no agent {opts['agent']!r}")
            token, secret = AgentToken.issue(agent, opts["name"], actor=f"operator:{operator}")
            self.stdout.write(f"token {token.id} for {agent.slug} (shown once): {secret}")
            return
        token = AgentToken.objects.filter(pk=opts["token_id"]).first()
        if token is None:
            raise CommandError(f"no token {opts['token_id']}")
        done = token.revoke(actor=f"operator:{operator}")
        self.stdout.write(f"token {token.id} " + ("revoked" if done else "was already revoked"))
