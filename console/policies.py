"""The console's policy: the first-boot plan. Registered from ConsoleConfig.ready()."""

from opscore.policies import PolicyValue


class FirstBootPlan(PolicyValue):
    """The first-boot plan (console.first_boot): real work through the intake in a fresh
    install's first ten minutes, so a newcomer sees the company move. Switch it off here."""

    enabled: bool = True


POLICIES = {
    "first_boot_plan": FirstBootPlan,
}
