from missions.metrics import record_metric
from missions.schemas import ProposalInvalid
from opscore.cli import REFUSED, OpsCommand, dump, fail, whole


class Command(OpsCommand):
    help = "Record engagement for a post (feeds the tweet_high_engagement trigger)."

    def add_arguments(self, parser):
        parser.add_argument("--post", required=True, dest="post_ref")
        parser.add_argument("--impressions", type=whole, required=True)
        parser.add_argument("--engagements", type=whole, required=True)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        data = {k: opts[k] for k in ("post_ref", "impressions", "engagements")}
        try:
            metric = record_metric(data)
        except ProposalInvalid as invalid:
            fail("invalid metric", as_json=opts["json"], errors=invalid.errors, code=REFUSED)
        body = {"id": metric.id, "post_ref": metric.post_ref, "rate": metric.engagement_rate}
        self.stdout.write(dump(body) if opts["json"] else f"{metric}")
