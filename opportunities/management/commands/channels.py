"""`manage.py channels list`, `channels approve NAME --actor …`, `channels unblock NAME
--actor …`: each publishing channel's standing (configured? approved? blocked, and why?) and
the two human decisions about it. Credentials are never shown, only whether they are set."""

from opportunities.channels import ADAPTERS
from opportunities.models import ChannelAccount
from opportunities.publishing import (
    ChannelRefused,
    approve_channel,
    local_reason,
    stopped_by,
    unblock_channel,
)
from opscore.cli import OpsCommand, add_verbs, dump, fail


def standing(name: str) -> dict:
    row = ChannelAccount.objects.filter(name=name).first()
    stop = stopped_by(name)
    return {
        "channel": name,
        "publishes": local_reason(name) is None,
        "local_because": local_reason(name) or "",
        "approved_by": row.approved_by if row and row.approved else "",
        "blocked_because": row.blocked_reason if row and row.blocked else "",
        "stopped_by_override": stop.id if stop else None,
    }


def line(state: dict) -> str:
    """Everything that holds a channel, not only the first: an approval or a stop recorded
    while posts are only kept locally (offline, no credentials) still shows."""
    held = []
    if state["stopped_by_override"]:
        held.append(f"stopped by override {state['stopped_by_override']}")
    if state["blocked_because"]:
        held.append(f"blocked: {state['blocked_because']}")
    if not state["publishes"]:
        said = [f"recorded locally, not published ({state['local_because']})", *held]
        if state["approved_by"]:
            said.append(f"approved by {state['approved_by']}")
    elif held:
        said = held
    elif not state["approved_by"]:
        said = ["configured; the first post waits for a human (channels approve)"]
    else:
        said = [f"publishing (approved by {state['approved_by']})"]
    return f"{state['channel']}: {'; '.join(said)}"


APPROVE = "let the first post on a configured channel go out"


class Command(OpsCommand):
    help = "Publishing channels: list, approve the first post on one, unblock one."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        verbs = add_verbs(parser)
        verbs.add_parser("list", help="each channel's standing")
        for name, what in [("approve", APPROVE), ("unblock", "publish again after a block")]:
            verb = verbs.add_parser(name, help=what)
            verb.add_argument("channel", choices=list(ADAPTERS))
            verb.add_argument("--actor", default="operator:cli")

    def handle(self, *args, verb, **opts):
        as_json = opts["json"]
        try:
            if verb in ("approve", "unblock"):
                act = approve_channel if verb == "approve" else unblock_channel
                act(opts["channel"], actor=opts["actor"])
        except ChannelRefused as refused:
            fail(str(refused), as_json=as_json, code=2)
        states = [standing(name) for name in ADAPTERS]
        self.stdout.write(dump(states) if as_json else "\n".join(line(s) for s in states))
