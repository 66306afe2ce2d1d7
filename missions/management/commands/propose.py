from missions.actions import submit_proposal
from missions.models import ProposalSource
from missions.schemas import ProposalInvalid
from opscore.cli import REFUSED, OpsCommand, cli_author, dump, fail, whole
from opscore.inputs import InputRefused, parse_json


def parse_step(text: str) -> dict:
    """KIND or KIND:{json payload}."""
    kind, sep, raw = text.partition(":")
    if not sep:
        return {"kind": kind.strip()}
    try:
        payload = parse_json(raw, "payload")
    except InputRefused as refused:
        where = "payload" if refused.field == "payload" else f"payload.{refused.field}"
        raise ValueError(f"step {kind!r}: {where}: {refused.message}") from None
    return {"kind": kind.strip(), "payload": payload}


class Command(OpsCommand):
    help = "Submit a proposal through the single intake, as a human operator."

    def add_arguments(self, parser):
        parser.add_argument("--agent", required=True)
        parser.add_argument("--title", required=True)
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--step", action="append", required=True, metavar="KIND[:JSON]", dest="steps"
        )
        parser.add_argument("--chain", action="store_true", help="each step waits for the last")
        parser.add_argument("--dedupe-key")
        parser.add_argument("--goal", type=whole, help="the active goal this work serves")
        parser.add_argument(
            "--as",
            dest="username",
            help="who proposes (default: the account running the command); not its approver",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        try:
            steps = [parse_step(text) for text in opts["steps"]]
        except ValueError as error:
            fail(
                "invalid proposal",
                as_json=opts["json"],
                errors={"step": [str(error)]},
                code=REFUSED,
            )
        if opts["chain"]:
            for index, step in enumerate(steps[1:], start=1):
                step["depends_on"] = [index - 1]
        data = {"agent": opts["agent"], "title": opts["title"], "steps": steps}
        if opts["description"]:
            data["description"] = opts["description"]
        if opts["dedupe_key"]:
            data["dedupe_key"] = opts["dedupe_key"]
        if opts["goal"] is not None:
            data["goal"] = opts["goal"]
        name, author = cli_author(opts["username"], as_json=opts["json"])
        by = {"cause_ref": f"cli:{name}", "proposed_by": f"cli:{name}", "operator": author}
        try:
            result = submit_proposal(data, source=ProposalSource.HUMAN, **by)
        except ProposalInvalid as invalid:
            fail("invalid proposal", as_json=opts["json"], errors=invalid.errors, code=REFUSED)
        body = result.as_json()
        self.stdout.write(dump(body) if opts["json"] else self.describe(body))

    def describe(self, body: dict) -> str:
        prefix = f"P{body['id']} {body['status']}"
        if body["duplicate"]:
            prefix += " (already on file with this dedupe key)"
        if body["status"] == "accepted":
            steps = ", ".join(f"S{i}" for i in body["step_ids"])
            return f"{prefix}: mission M{body['mission_id']}, steps {steps}"
        if body["status"] == "rejected":
            return f"{prefix}: {body['reason']}"
        return f"{prefix}: awaits a human decision in the admin"
