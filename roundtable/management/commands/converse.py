import argparse
import contextlib
import random

from django.core.management.base import CommandError
from django.db import DatabaseError

from missions.worker import default_worker_id
from opscore.cli import REFUSED, OpsCommand, decimal, whole
from opscore.lanes import pause_of
from opscore.models import Policy
from roundtable.lifecycle import ConversationInvalid, close_conversation, request_conversation
from roundtable.models import ConversationStatus
from roundtable.speaking import run_conversation

MAX_PAUSE = 3600.0


def pause_seconds(text: str) -> float:
    """A wait between turns: 0 to an hour (argparse says which value was refused)."""
    value = decimal(text)  # ASCII digits; not a number: argparse's "invalid float value"
    if not 0 <= value <= MAX_PAUSE:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{text!r} is not 0 to {MAX_PAUSE:.0f} seconds")
    return value


class Command(OpsCommand):
    help = "Hold one roundtable conversation now and print its transcript."

    def add_arguments(self, parser):
        parser.add_argument("--format", required=True)
        parser.add_argument("--agents", required=True, help="comma-separated slugs")
        parser.add_argument("--topic", required=True)
        parser.add_argument("--seed", type=whole)
        parser.add_argument(
            "--pause",
            type=pause_seconds,
            default=None,
            help="seconds between turns (default: the configured pacing, OPS_TURN_PAUSE_SECONDS)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="hold it even while the roundtable lane is paused or roundtable_policy is off",
        )

    def handle(self, *args, **opts):
        pause = pause_of("roundtable")
        if pause is not None and not opts["force"]:
            raise CommandError(f"{pause.why}; lift the override, or --force", returncode=REFUSED)
        if not opts["force"] and not Policy.objects.value("roundtable_policy").enabled:
            why = "roundtable_policy.enabled is false; switch it on, or --force"
            raise CommandError(why, returncode=REFUSED)
        agents = [a.strip() for a in opts["agents"].split(",") if a.strip()]
        try:
            conversation = request_conversation(  # held under a lease from the start: no worker
                opts["format"],  # claims it, and if this process dies, recovery ends it
                agents,
                opts["topic"],
                source="operator",
                requested_by="cli",
                held_by=default_worker_id(),
            )
        except ConversationInvalid as problem:
            raise CommandError(str(problem), returncode=REFUSED) from None
        self.stdout.write(f"C{conversation.id} {conversation.format}: {conversation.topic}")
        try:
            conversation = run_conversation(
                conversation, random.Random(opts["seed"]), opts["pause"], on_turn=self.say
            )
        except KeyboardInterrupt:
            end_interrupted(conversation)
            raise
        self.stdout.write(f"-> {conversation.status} {conversation.error}".rstrip())
        if conversation.distillation:
            kept = conversation.distillation
            self.stdout.write(
                f"   memories {kept['memories']}, drifts {kept['drifts']}, "
                f"action items {kept['action_items']}, dropped {len(kept['dropped'])}"
            )
            for why in kept["dropped"]:  # each with its reason, as the Stage lists them
                self.stdout.write(f"   {why}")

    def say(self, turn) -> None:
        """Each turn as it is spoken, not all of them at the end."""
        self.stdout.write(f"  {turn.speaker_id:>16} [{turn.interaction}] {turn.text}")
        self.stdout.flush()


def end_interrupted(conversation) -> None:
    """Ctrl-C: the conversation ends failed now, saying so, not `running` on the Stage until
    its lease runs out (15 min) and recovery fails it. A database the interrupt left unusable
    leaves it to that recovery."""
    with contextlib.suppress(DatabaseError):
        spoken = conversation.turns.count()
        why = f"interrupted (Ctrl-C in converse) after {spoken} turn(s)"
        close_conversation(conversation, ConversationStatus.FAILED, why)
