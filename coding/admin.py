from django.contrib import admin

from coding.models import CodingIteration, CodingRun, Repository
from opscore.admin import EvidenceInline, ReadOnlyMixin


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    """The trust zones: which local repositories the coding lane may touch, and how."""

    list_display = ["name", "path", "allowed_base_refs", "runners", "max_concurrent_runs"]


class IterationInline(EvidenceInline):
    model = CodingIteration
    fields = ["number", "exit_status", "tests_passed", "diff_hash", "cost_usd", "duration_ms"]


@admin.register(CodingRun)
class CodingRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "repository", "runner", "status", "branch", "iteration"]
    list_filter = ["status", "repository", "runner"]
    inlines = [IterationInline]
