"""`opscore words list`, `words approve STEP --digest D --as USER`, `words refuse STEP --reason …
--as USER`: the words a held post would post (a model's draft no approval showed), decided
by a person. Four-eyes holds as for a proposal: USER needs 'can approve proposals' and did not
propose the work; an approval names the words' digest, so other words are not approved."""

from missions.models import refusal_line
from missions.words import WordsRefused, decide_words_as, held_for_words, held_words
from opscore.cli import OpsCommand, add_verbs, dump, fail, whole

LISTED = 100  # the oldest first: deciding them brings the next ones into the list


class Command(OpsCommand):
    help = "List the posts whose words wait for a person, or approve or refuse those words."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        verbs = add_verbs(parser)
        verbs.add_parser("list", help="posts held until a person approves their words")
        approve = verbs.add_parser("approve", help="post exactly these words")
        approve.add_argument("step", type=whole)
        approve.add_argument(
            "--digest",
            required=True,
            help="the digest `words list` shows: the words, and any refusal of them shown beside",
        )
        refuse = verbs.add_parser("refuse", help="do not post them: the step fails")
        refuse.add_argument("step", type=whole)
        refuse.add_argument("--reason", required=True)
        for sub in (approve, refuse):
            sub.add_argument("--as", dest="username", required=True, help="who decides")

    def handle(self, *args, verb, **opts):
        as_json = opts["json"]
        if verb == "list":
            return self.list_held(as_json)
        decision = {"digest": opts["digest"]} if verb == "approve" else {"reason": opts["reason"]}
        try:
            row = decide_words_as(
                opts["step"], opts["username"], approve=verb == "approve", **decision
            )
        except WordsRefused as refused:
            fail(str(refused), as_json=as_json, code=2)
        answer = {"step": row.step_id, "decision": row.decision, "digest": row.digest}
        self.stdout.write(dump(answer) if as_json else f"S{row.step_id}: words {row.decision}")

    def list_held(self, as_json: bool) -> None:
        cards, total = held_words(LISTED), held_for_words().count()
        if as_json:
            self.stdout.write(dump({"held": cards, "total": total}))
            return
        for card in cards:
            self.stdout.write(f"S{card['step']} {card['kind']} ({card['agent']}) would post:")
            for line in card["shown"].split("\n"):  # a line of words never reads as a card's
                self.stdout.write(f"  | {line}")
            for note in card["refused_before"]:
                self.stdout.write(f"  {refusal_line(note)}")
            self.stdout.write(f"  digest {card['digest']} (words approve … --digest it)")
        if not cards:
            self.stdout.write("No post waits for its words to be approved.")
        elif total > len(cards):
            self.stdout.write(
                f"The oldest {len(cards)} of {total} posts held for their words; "
                "decide these to list the rest."
            )
