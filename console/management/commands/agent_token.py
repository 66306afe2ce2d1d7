"""Issue or revoke an agent API token from the shell (the admin does the same): the secret is
printed once, on issue, and never stored."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from console.models import AgentToken
from opscore.actions import add_outside_agent
from opscore.cli import REFUSED, OpsCommand, actor_name, add_verbs, check_length, whole
from opscore.models import Agent


class Command(OpsCommand):
    help = "Issue (prints the secret once) or revoke an agent's API token."

    def add_arguments(self, parser):
        verbs = add_verbs(parser)
        issue = verbs.add_parser("issue", help="a new token for an agent: its secret is shown once")
        issue.add_argument("agent")
        issue.add_argument("--name", required=True, help="which runtime holds it")
        issue.add_argument("--operator", default="cli")
        issue.add_argument(
            "--create",
            action="store_true",
            help="first add the agent as an enabled outside runtime when it does not exist",
        )
        revoke = verbs.add_parser("revoke", help="a token no longer works")
        revoke.add_argument("token_id", type=whole)
        revoke.add_argument("--operator", default="cli")

    def handle(self, *args, verb, operator, **opts):
        operator = actor_name("--operator", operator)  # the rows' actor columns
        if verb == "issue":
            check_length("--name", opts["name"], AgentToken._meta.get_field("name").max_length)
            agent = self.agent_for(opts["agent"], opts["create"], operator)
            token, secret = AgentToken.issue(agent, opts["name"], actor=f"operator:{operator}")
            self.stdout.write(f"token {token.id} for {agent.slug} (shown once): {secret}")
            return
        self.revoke(opts["token_id"], operator)

    def agent_for(self, slug: str, create: bool, operator: str) -> Agent:
        agent = Agent.objects.filter(slug=slug).first()
        if agent is not None:
            return agent
        if not create:
            raise CommandError(
                f"no agent {slug!r} (add --create to add it as an outside runtime)",
                returncode=REFUSED,
            )
        try:
            return add_outside_agent(slug, actor=f"operator:{operator}")
        except ValidationError as invalid:
            raise CommandError("; ".join(invalid.messages), returncode=REFUSED) from None

    def revoke(self, token_id: int, operator: str) -> None:
        token = AgentToken.objects.filter(pk=token_id).first()
        if token is None:
            raise CommandError(f"no token {token_id}", returncode=REFUSED)
        done = token.revoke(actor=f"operator:{operator}")
        self.stdout.write(f"token {token.id} " + ("revoked" if done else "was already revoked"))
