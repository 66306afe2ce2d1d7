from django.contrib import admin, messages
from django.db import models
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html

from coding import operations
from coding.actions import RunRefused
from coding.approvals import ApprovalRefused, already_approved, why_not
from coding.diffs import shown_diff
from coding.hardened_git import GitFailed
from coding.models import ApprovalKind, CodingApproval, CodingIteration, CodingRun, Repository
from coding.repositories import RepositoryForm
from opscore import four_eyes
from opscore.admin import EvidenceInline, ReadOnlyMixin, SafeJSONField, report
from opscore.admin_audit import EditsRecorded
from opscore.admin_overrides import reasoned_action
from opscore.four_eyes import why_not_decide


@admin.register(Repository)
class RepositoryAdmin(EditsRecorded, admin.ModelAdmin):
    """The trust zones: which local repositories the coding lane may touch, and how. Saving
    checks the path is a git checkout and the refs and runners exist; each change is an event."""

    form = RepositoryForm
    edit_event = "coding.repository_"
    # Django's own JSON field takes NaN, NUL and lone surrogates: a 500 on the page or at save.
    formfield_overrides = {models.JSONField: {"form_class": SafeJSONField}}
    list_display = ["name", "path", "allowed_base_refs", "runners", "max_concurrent_runs"]
    readonly_fields = ["created_at"]  # the database's clock sets it (db_default), not a person


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


def approval_cards(run: CodingRun, user) -> list[dict]:
    """One button per approval kind: the digest of what this page shows, who may give it,
    and why this user can't (permission, authorship, or the run's state)."""
    return [
        {
            "kind": kind,
            "label": label,
            "digest": run.approval_digest(kind),
            "needs": four_eyes.DECISIONS[kind].label,
            "why_not": why_not_decide(user, four_eyes.DECISIONS[kind], author=run.author)
            or why_not(run, kind),
        }
        for kind, label in ApprovalKind.choices
    ]


def run_label(run: CodingRun) -> str:
    """A run as a bulk action's confirmation page lists it."""
    return f"R{run.id} {run.repository.name} ({run.status}) {run.branch or ''}"


def pre(text: str):
    return format_html('<pre class="run-text">{}</pre>', text)


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
    actions = ["cancel_runs", "retry_runs", "revise_runs"]  # approving: from the run's page
    change_form_template = "admin/coding/codingrun/change_form.html"

    @admin.display(description="diff (base → head, escaped)")
    def the_diff(self, run):
        if not (run.base_sha and run.head_sha):
            return "no commit yet"
        try:
            diff = shown_diff(run.repository.path, run.base_sha, run.head_sha)
        except GitFailed as missing:
            return str(missing)
        return pre(diff)  # whole: an approval binds the commit, every line of it

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

    def get_urls(self):
        decide = self.admin_site.admin_view(self.approve_view)
        mine = [path("<int:pk>/approve/", decide, name="coding_codingrun_approve")]
        return mine + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra = {"approvals": approval_cards(run, request.user)} if run else {}
        return super().change_view(request, object_id, form_url, extra | (extra_context or {}))

    def approve_view(self, request, pk: int):
        """One approval of the content this page showed (its digest comes back with it)."""
        run = get_object_or_404(CodingRun, pk=pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        kind, seen = request.POST.get("kind", ""), request.POST.get("digest", "")
        by = request.user.get_username()
        try:
            approval, new = operations.approve_run(
                run, kind, by=by, user=request.user, shown_digest=seen
            )
        except (ApprovalRefused, GitFailed) as why:
            self.message_user(request, f"Not approved: {why}", messages.ERROR)
        else:
            said = f"R{run.id}: {kind} approved." if new else f"{already_approved(approval)}."
            self.message_user(request, said, messages.SUCCESS if new else messages.INFO)
        return redirect(reverse("admin:coding_codingrun_change", args=[run.id]))

    @reasoned_action(
        "Cancel (kills the harness, keeps the diff)…",
        heading="Cancel {n} run(s)",
        label=run_label,
        button="Cancel them",
        kept_with="the run's reason and its event, as `coding cancel --reason` keeps it",
    )
    def cancel_runs(self, request, queryset, reason):
        by = request.user.get_username()
        act = lambda run: operations.cancel(run, reason, actor=by)  # noqa: E731
        self._each(request, queryset, "cancelled", act)

    @admin.action(description="Retry (back in the queue)", permissions=["change"])
    def retry_runs(self, request, queryset):
        by = request.user.get_username()
        self._each(request, queryset, "queued again", lambda run: operations.retry(run, actor=by))

    @reasoned_action(
        "Revise (one more pass with your notes)…",
        heading="Send {n} run(s) back for a revision pass",
        label=run_label,
        button="Send back",
        kept_with="the next pass's notes, kept on the run and its event",
        blank=True,  # a blank note is refused by revise_run, and recorded, as from the CLI
    )
    def revise_runs(self, request, queryset, notes):
        by = request.user.get_username()
        act = lambda run: operations.revise(run, notes, by=by)  # noqa: E731
        self._each(request, queryset, "sent back for a revision pass", act)
