"""`opscore proposal list`, `proposal approve ID --as USER`, `proposal reject ID --as USER
--reason …`: a person's decision from the command line. Four-eyes holds as on the Stage: USER
must have the permission the proposal's steps need, and may not approve their own."""

from missions.actions import DecisionRefused
from missions.decisions import decide_proposal_as
from missions.models import Proposal, ProposalStatus, Step, refusal_line, text_digest
from missions.text import reveal_invisible
from opscore.cli import OpsCommand, add_verbs, dump, fail


class Command(OpsCommand):
    help = "List pending proposals, or approve or reject one as a named person."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        verbs = add_verbs(parser)
        verbs.add_parser("list", help="proposals waiting for a human")
        for verb, what in [("approve", "run it"), ("reject", "refuse it, with a reason")]:
            sub = verbs.add_parser(verb, help=what)
            sub.add_argument("id", type=int)
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
        rows = [p.as_json() | {"step_kinds": p.step_kinds} for p in pending[:100]]
        if as_json:
            self.stdout.write(dump({"pending": rows}))
            return
        for row in rows:
            kinds = ", ".join(row["step_kinds"])
            self.stdout.write(f"P{row['id']} {row['agent']}: {row['title']} [{kinds}]")
            refused = dict(row["refused_before"])
            for step_id, texts in row["written"].items():
                for text in texts:  # what a post waiting on that step would post
                    self.stdout.write(f"  S{step_id} wrote: {reveal_invisible(text)}")
                    for note in refused.pop(text_digest(text), []):
                        self.stdout.write(f"    {refusal_line(note)}")
            for digest, notes in refused.items():  # a post's own words, refused elsewhere
                for note in notes:
                    self.stdout.write(f"  its words (sha256 {digest[:12]}) {refusal_line(note)}")
            self.stdout.write(f"  digest {row['digest']} (approve … --digest it: only this)")
        if not rows:
            self.stdout.write("Nothing waits for a human.")
