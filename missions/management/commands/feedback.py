"""`opscore feedback --mission ID|--artifact ID|--publication ID --rating useful|not_useful
--reason …`: an operator's rating of an output, evidence the memory lane learns from."""

from missions.feedback import FeedbackInvalid, record_feedback
from opscore.cli import OpsCommand, dump, fail, whole

ACTOR = "operator:cli"


class Command(OpsCommand):
    help = "Rate an output useful or not useful, with a reason (kept as evidence)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--mission", type=whole)
        parser.add_argument("--artifact", type=whole)
        parser.add_argument("--publication", type=whole)
        parser.add_argument("--rating", required=True, help="useful or not_useful")
        parser.add_argument("--reason", required=True)

    def handle(self, *args, **opts):
        as_json = opts["json"]
        names = ("mission", "artifact", "publication")
        output = {k: opts[k] for k in names if opts[k] is not None}  # 0 is named, then refused
        try:
            feedback = record_feedback(
                rating=opts["rating"], reason=opts["reason"], actor=ACTOR, **output
            )
        except FeedbackInvalid as invalid:
            fail("feedback refused", as_json=as_json, errors=invalid.errors, code=2)
        data = {
            "id": feedback.id,
            "mission_id": feedback.mission_id,
            "output": feedback.output,
            "rating": feedback.rating,
            "reason": feedback.reason,
        }
        if as_json:
            self.stdout.write(dump(data))
            return
        self.stdout.write(f"F{feedback.id}: {feedback.output} rated {feedback.rating}")
