from django.contrib import admin
from django.utils.html import format_html

from coding import operations
from coding.actions import RunRefused
from coding.approvals import ApprovalRefused
from coding.models import ApprovalKind, CodingApproval, CodingIteration, CodingRun, Repository
from coding.worktrees import GitFailed, git
from opscore.admin import EvidenceInline, ReadOnlyMixin, report

DIFF_SHOWN = 60_000


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    """The trust zones: which local repositories the coding lane may touch, and how. Saving
    checks the path is a git checkout and the refs and runners exist."""

    list_display = ["name", "path", "allowed_base_refs", "runners", "max_concurrent_runs"]


class IterationInline(EvidenceInline):
    model = CodingIteration
    fields = [
        "number",
        "exit_status",
        "tests_passed",
        "changed_files",
        "diff_hash",
        "test_signature",
        "cost_usd",
        "duration_ms",
        "verdict",
    ]


class ApprovalInline(EvidenceInline):
    model = CodingApproval
    fields = ["kind", "sha", "approved_by", "created_at", "voided_at", "void_reason"]


def pre(text: str):
    return format_html(
        '<pre style="white-space:pre-wrap;max-height:40em;overflow:auto">{}</pre>', text
    )


@admin.register(CodingRun)
class CodingRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Runs with their passes and approvals; every approval is given to the head commit shown
    here, and a newer commit voids it."""

    list_display = ["id", "created_at", "repository", "runner", "mode", "status", "iteration"]
    list_display += ["cost_usd", "branch", "reason"]
    list_filter = ["status", "repository", "runner", "mode"]
    list_select_related = ["repository"]
    readonly_fields = ["the_diff", "last_test_output"]
    inlines = [IterationInline, ApprovalInline]
    actions = [
        "approve_code",
        "approve_merge",
        "approve_deploy",
        "approve_prod_config",
        "cancel_runs",
        "retry_runs",
    ]

    @admin.display(description="diff (base → head, escaped)")
    def the_diff(self, run):
        if not (run.base_sha and run.head_sha):
            return "no commit yet"
        try:
            diff = git(["diff", f"{run.base_sha}..{run.head_sha}", "--"], run.repository.path)
        except GitFailed as missing:
            return str(missing)
        return pre(diff[:DIFF_SHOWN])

    @admin.display(description="last pass: tests, lint, acceptance")
    def last_test_output(self, run):
        last = run.iterations.order_by("-number").first()
        return pre(last.test_output) if last else "no pass yet"

    def _each(self, request, queryset, verb, act):
        done, refused = 0, []
        for run in queryset:
            try:
                act(run)
                done += 1
            except (RunRefused, ApprovalRefused, GitFailed) as why:
                refused.append(f"R{run.id}: {why}")
        report(self, request, done, verb, refused)

    def _approve(self, request, queryset, kind):
        by = request.user.get_username()
        act = lambda run: operations.approve_run(run, kind, by=by)  # noqa: E731
        self._each(request, queryset, f"{kind} approval(s) recorded", act)

    @admin.action(description="Approve the code (at its head commit)")
    def approve_code(self, request, queryset):
        self._approve(request, queryset, ApprovalKind.CODE)

    @admin.action(description="Approve the merge (tests must pass on the merged head)")
    def approve_merge(self, request, queryset):
        self._approve(request, queryset, ApprovalKind.MERGE)

    @admin.action(description="Approve the deploy")
    def approve_deploy(self, request, queryset):
        self._approve(request, queryset, ApprovalKind.DEPLOY)

    @admin.action(description="Approve the production-config change")
    def approve_prod_config(self, request, queryset):
        self._approve(request, queryset, ApprovalKind.PROD_CONFIG)

    @admin.action(description="Cancel (kills the harness, keeps the diff)")
    def cancel_runs(self, request, queryset):
        by = request.user.get_username()
        act = lambda run: operations.cancel(run, "from the admin", actor=by)  # noqa: E731
        self._each(request, queryset, "cancelled", act)

    @admin.action(description="Retry (back in the queue)")
    def retry_runs(self, request, queryset):
        by = request.user.get_username()
        self._each(request, queryset, "queued again", lambda run: operations.retry(run, actor=by))
