"""`manage.py override <verb> TARGET --reason … [--expires 2h] [--preview] [--json]`, plus
`override list` and `override lift ID --reason …`. The same functions serve the admin and
`POST /api/ops/overrides`."""

from opscore.cli import OpsCommand, add_verbs, dump, fail, plain, whole
from opscore.overrides import (
    OVERRIDE_KINDS,
    OverrideRefused,
    active_overrides,
    apply_override,
    lift_override,
    preview_override,
)
from opscore.text import clean_reason

ACTOR = "operator:cli"


class Command(OpsCommand):
    help = "Pause, drain, freeze, disable, cancel or force — as override rows with a reason."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        verbs = add_verbs(parser)
        for name in OVERRIDE_KINDS.names():
            kind = OVERRIDE_KINDS[name]
            verb = verbs.add_parser(kind.verb, help=kind.description)
            verb.add_argument("target")
            verb.add_argument("--reason", default="", help="why (required, except with --preview)")
            verb.add_argument("--preview", action="store_true", help="show, change nothing")
            if kind.standing:
                verb.add_argument("--expires", help="e.g. 90s, 5m, 2h, 7d; default: until lifted")
        verbs.add_parser("list", help="overrides in force, with what each leaves")
        lift = verbs.add_parser("lift", help="end an override in force, with a reason")
        lift.add_argument("id", type=whole)
        lift.add_argument("--reason", required=True)

    def handle(self, *args, verb, **opts):
        self.as_json = opts.pop("json")
        try:
            body = self.run(verb, **opts)
        except OverrideRefused as refused:
            fail(str(refused), as_json=self.as_json, code=2)
        self.stdout.write(dump(body) if self.as_json else self.readable(verb, body))

    def run(self, verb, **opts):
        if verb == "list":  # the shape GET /api/ops/overrides answers
            return {"overrides": active_overrides()}
        if verb == "lift":
            return lift_override(opts["id"], actor=ACTOR, reason=opts["reason"]).as_json()
        if opts.get("expires") is not None and not opts["expires"].strip():  # `--expires "$UNSET"`
            raise OverrideRefused("--expires is empty: say 90s, 5m, 2h or 7d, or leave it out")
        if opts.get("preview"):
            return preview_override(verb, opts["target"], opts.get("expires"))
        if not clean_reason(opts["reason"]):  # as apply_override will keep it
            raise OverrideRefused(f"override {verb} needs --reason (say why; --preview needs none)")
        row = apply_override(
            verb,
            opts["target"],
            reason=opts["reason"],
            actor=ACTOR,
            expires=opts.get("expires"),
        )
        return row.as_json()

    def readable(self, verb, body) -> str:
        if verb == "list":
            lines = (self.line(row) for row in body["overrides"])
            return "\n".join(lines) or "(no overrides in force)"
        if "in_flight" in body:
            in_flight = plain(body["in_flight"])
            return f"would {body['does']} {body['target']}; in flight now: {in_flight}"
        return self.line(body)

    @staticmethod
    def line(row: dict) -> str:
        until = f" until {row['expires_at']}" if row.get("expires_at") else ""
        left = f"; left: {plain(row['left'])}" if row.get("left") else ""
        head = f"override {row['id']} {row['kind']} {row['target']} [{row['status']}]{until}"
        return f"{head}: {row['reason']} (by {row['actor']}){left}"
