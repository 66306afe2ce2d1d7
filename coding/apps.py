from django.apps import AppConfig


class CodingConfig(AppConfig):
    name = "coding"

    def ready(self):
        from coding import deploy_steps
        from coding.driver import drive_one
        from coding.executor import WAITING, execute_code_change, step_can_go_on
        from coding.jobs import KIND, STEP_KIND, caps_preview
        from coding.runners import BUILTIN, RUNNERS
        from coding.switches import release_held
        from memory.evidence import EVIDENCE_TYPES, UNTRUSTED_BECAUSE
        from missions.executors import EXECUTORS
        from missions.recovery import BLOCKER_CHECKS
        from opscore.lanes import contribute
        from opscore.overrides import RELEASED_ON_LIFT
        from opscore.registry import STEP_KINDS, STEP_PREVIEWS

        register_edges()
        STEP_KINDS.register(KIND, STEP_KIND)
        STEP_PREVIEWS.register(KIND, caps_preview)
        EXECUTORS.register(KIND, execute_code_change)
        BLOCKER_CHECKS.register(WAITING, step_can_go_on)
        STEP_KINDS.register(deploy_steps.PREPARE.name, deploy_steps.PREPARE)
        EXECUTORS.register(deploy_steps.PREPARE.name, deploy_steps.execute_prepare)
        # `deploy` of a coding run is gated by its approval; the plain kind is delegated to
        EXECUTORS.register("deploy", deploy_steps.execute_deploy, replace=True)
        STEP_KINDS.register("deploy", deploy_steps.gated(STEP_KINDS["deploy"]), replace=True)
        BLOCKER_CHECKS.register(deploy_steps.WAITING, deploy_steps.approval_waiting_over)
        RUNNERS.register_all(BUILTIN)
        contribute(
            "coding",
            kinds=[KIND, deploy_steps.PREPARE.name, "deploy"],
            duties=["set_aside_review_trees"],
            loops={"coding.driver": drive_one},
        )
        RELEASED_ON_LIFT.register("coding", release_held)
        EVIDENCE_TYPES.register("coding_run", "coding.CodingRun")
        UNTRUSTED_BECAUSE.register("coding_run", run_untrusted)
        from missions.threads import SUBJECTS

        SUBJECTS.register("coding_run", run_subject)


def register_edges():
    """What the lane adds to opscore's own registries: its policy, who may approve its runs, and
    its LLM budget lane and the purposes that spend it."""
    from coding.decisions import DECISIONS, STEP_KIND_DECISIONS
    from coding.policies import POLICIES
    from opscore import four_eyes
    from opscore.budgets import LANE_OF_PREFIX, LLM_LANES
    from opscore.policies import SCHEMAS

    SCHEMAS.register_all(POLICIES)
    four_eyes.DECISIONS.register_all(DECISIONS)
    four_eyes.STEP_KIND_DECISIONS.register_all(STEP_KIND_DECISIONS)
    LLM_LANES.register("coding", (2.0, 3.0))
    LANE_OF_PREFIX.register("coding.", "coding")


def run_subject(run_id: int):
    """The run's agent (else its step's) owns its thread; its step's mission sees the remarks."""
    from coding.models import ENDED, CodingRun
    from missions.threads import Subject

    run = CodingRun.objects.select_related("agent", "step__agent").filter(pk=run_id).first()
    if run is None or (run.agent is None and run.step is None):
        return None
    agent = run.agent or run.step.agent
    closed = f"R{run.id} is {run.status}" if run.status in ENDED else ""
    title = str(run.task.get("summary") or f"coding run {run.id}")[:200]
    mission_id = run.step.mission_id if run.step else None
    return Subject("coding_run", run.id, f"R{run.id}", title, agent, mission_id, closed)


def run_untrusted(run_id: int) -> str:
    """A coding run is as trusted as the job that asked for it."""
    from coding.models import CodingRun
    from missions.provenance import step_untrusted

    step_id = CodingRun.objects.filter(pk=run_id).values_list("step_id", flat=True).first()
    return step_untrusted(step_id) if step_id else ""
