from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import path

from opscore import api

urlpatterns = [
    path("", lambda request: HttpResponseRedirect("/admin/")),
    path("admin/", admin.site.urls),
    path("api/ops/proposals", api.create_proposal, name="api-proposals"),
    path("api/ops/events", api.list_events, name="api-events"),
    path("api/ops/status", api.status, name="api-status"),
    path("api/ops/heartbeat", api.heartbeat, name="api-heartbeat"),
    path("api/ops/metrics", api.create_metric, name="api-metrics"),
    path("api/ops/conversations", api.request_conversation, name="api-conversations"),
]
