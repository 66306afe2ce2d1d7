"""Who may approve what of a coding run: one Django permission per approval kind, registered
into opscore.four_eyes from CodingConfig.ready(). The groups that hold them are made by
coding/migrations/0004_approver_groups.py."""

from opscore.four_eyes import Decision

DECISIONS = {
    "code": Decision("coding.approve_code", "can approve code"),
    "merge": Decision("coding.approve_merge", "can approve merges"),
    "deploy": Decision("coding.approve_deploy", "can approve deploys"),
    "prod-config": Decision("coding.approve_prod_config", "can approve production-config changes"),
}
# Approving a proposal with these steps is approving the deploy or the production-config change.
STEP_KIND_DECISIONS = {
    "deploy": DECISIONS["deploy"],
    "deploy.prepare": DECISIONS["deploy"],
    "config.change": DECISIONS["prod-config"],
}
