"""The lineage page, on the Stage and inside the admin (same data, two frames)."""

from django.contrib import admin
from django.http import Http404
from django.shortcuts import render

from console.lineage import LineageNotFound, flatten, lineage
from console.stage.access import visible_or_login
from console.stage.health import health_summary
from console.stage.mission_page import not_found


def page_data(kind: str, pk: int) -> dict:
    try:
        found = lineage(kind, pk)
    except LineageNotFound as missing:
        raise Http404(str(missing)) from None
    top = [found["proposal"]] if found["proposal"] else []
    sections = [
        ("Causes", flatten(found["causes"])),
        ("The work and what it produced", flatten(top + found["effects"])),
        ("Memories learned from it", flatten(found["memories"])),
    ]
    return {"asked": found["asked"], "sections": sections}


def stage_lineage(request, kind: str, pk: int):
    if refusal := visible_or_login(request):
        return refusal
    try:
        found = page_data(kind, pk)
    except Http404:
        return not_found(request, f"{kind} {pk}")
    context = found | {"health": health_summary(), "view": "lineage"}
    return render(request, "stage/lineage.html", context)


def admin_lineage(request, kind: str, pk: int):
    context = admin.site.each_context(request) | page_data(kind, pk)
    context["title"] = f"Why did {context['asked']} happen?"
    return render(request, "admin/lineage.html", context)


admin_lineage_view = admin.site.admin_view(admin_lineage)
