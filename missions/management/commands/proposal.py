"""`opscore proposal list`, `proposal approve ID --as USER`, `proposal reject ID --as USER
--reason …`: a person's decision from the command line. Four-eyes holds as on the Stage: USER
must have the permission the proposal's steps need, and may not approve their own."""

from textwrap import indent

from missions.actions import DecisionRefused
from missions.decisions import decide_proposal_as
from missions.models import Proposal, ProposalStatus, Step, refusal_line, text_digest
from missions.text import reveal_invisible
from opscore.cli import OpsCommand, add_verbs, dump, fail, whole

LISTED = 100  # the oldest first: deciding them brings the next ones into the list


class Command(OpsCommand):
    help = "List pending proposals, or approve or reject one as a named person."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        verbs = add_verbs(parser)
        verbs.add_parser("list", help="proposals waiting for a human")
        for verb, what in [("approve", "run it"), ("reject", "refuse it, with a reason")]:
            sub = verbs.add_parser(verb, help=what)
            sub.add_argument("id", type=whole)
            sub.add_argument("--as", dest="username", required=True, help="who decides")
            sub.add_argument("--reason", default="", required=verb == "reject")
            sub.add_argument("--digest", help="approve only if the content still has this digest")

    def handle(self, *args, verb, **opts):
        as_json = opts["json"]
        if verb == "list":
            return self.list_pending(as_json)
        try:
            proposal = decide_proposal_as(
                opts["id"],
                opts["username"],
                approve=verb == "approve",
                reason=opts["reason"],
                shown_digest=opts["digest"],
            )
        except DecisionRefused as refused:
            fail(str(refused), as_json=as_json, code=2)
        answer = proposal.as_json(Step.objects.of_proposal(proposal))
        if as_json:
            self.stdout.write(dump(answer))
            return
        mission = f" → M{answer['mission_id']}" if answer["mission_id"] else ""
        why = f": {proposal.reason}" if proposal.reason else ""
        self.stdout.write(f"P{proposal.id} {proposal.status}{mission}{why}")

    def list_pending(self, as_json: bool) -> None:
        pending = Proposal.objects.filter(status=ProposalStatus.PENDING).order_by("id")
        listed, total = list(pending[:LISTED]), pending.count()
        if as_json:
            rows = [p.as_json() | {"step_kinds": p.step_kinds} for p in listed]
            self.stdout.write(dump({"pending": rows, "total": total}))
            return
        for proposal in listed:
            self.print_pending(proposal)
        if not listed:
            self.stdout.write("Nothing waits for a human.")
        elif total > len(listed):
            self.stdout.write(
                f"The oldest {len(listed)} of {total} proposals waiting for a human; "
                "decide these to list the rest."
            )

    def print_pending(self, proposal: Proposal) -> None:
        """Every field the printed digest binds, read once (as the Stage's card shows them):
        an approval naming that digest approves what was printed, nothing unread."""
        content = proposal.shown_content()
        kinds = ", ".join(proposal.step_kinds)
        self.stdout.write(f"P{proposal.id} {proposal.agent_id}: {proposal.title} [{kinds}]")
        if proposal.untrusted:  # as the Stage's card says it
            why = proposal.untrusted_reason or "built from untrusted (crawled) content"
            self.stdout.write(f"  never auto-approved: {reveal_invisible(why)}")
        for step in proposal.readable_steps(content):
            self.stdout.write(f"  {step_line(step)}")
            for line in step_inputs(step):
                self.stdout.write(indent(line, "    "))
        self.print_words(content, proposal.content_digest(content))

    def print_words(self, content: dict, digest: str) -> None:
        """What the posts would take from the steps they wait for, earlier refusals, digest."""
        refused = dict(content.get("refused_before", {}))
        for step_id, texts in content.get("written", {}).items():
            for text in texts:  # what a post waiting on that step would post
                self.stdout.write(f"  S{step_id} wrote: {reveal_invisible(text)}")
                for note in refused.pop(text_digest(text), []):
                    self.stdout.write(f"    {refusal_line(note)}")
        for words, notes in refused.items():  # a post's own words, refused elsewhere
            for note in notes:
                self.stdout.write(f"  its words (sha256 {words[:12]}) {refusal_line(note)}")
        self.stdout.write(f"  digest {digest} (approve … --digest it: only this)")


def step_line(step: dict) -> str:
    """`step 2 crawl by devops after step 1, 2 min (120 s) after approval, priority 100, …`"""
    line = f"step {step['number']} {step['kind']} by {step['agent']}"
    if step["after"]:
        line += " after step " + ", ".join(map(str, step["after"]))
    if step["after_steps"]:
        line += " after existing " + ", ".join(f"S{s}" for s in step["after_steps"])
    if step["delay_seconds"]:
        line += f", {step['delay_minutes']} min ({step['delay_seconds']} s) after approval"
    if step["priority"] is not None:
        line += f", priority {step['priority']}, up to {step['max_attempts']} attempts"
    return line


def step_inputs(step: dict) -> list[str]:
    """Each input in full (a value's later lines indented under its first), the preview, and
    the warning that words written after the approval are not approved by it."""
    lines = [
        f"{key}: " + value.replace("\n", "\n" + " " * (len(key) + 2))
        for key, value in step["inputs"]
    ]
    if step["preview"]:
        lines += ["preview:", *(f"  {line}" for line in step["preview"].splitlines())]
    if step["words_later"]:
        lines.append("(words written after this approval are not approved by it)")
    return lines or ["(no inputs)"]
