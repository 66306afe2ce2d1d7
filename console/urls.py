from django.contrib import admin
from django.contrib.auth import views as auth
from django.http import HttpResponseRedirect
from django.templatetags.static import static
from django.urls import path

from console import (
    api,
    api_agent,
    api_goals,
    api_missions,
    api_overrides,
    api_proposals,
    api_talk,
    api_words,
    probes,
)
from console.sign_in import SignInForm
from console.stage import talk
from console.stage import views as stage
from console.stage.agents import agents_page
from console.stage.coding_panel import coding_panel
from console.stage.conversations import conversation_page, conversations
from console.stage.give_task import give_task
from console.stage.goals_page import goal_page, goals_page
from console.stage.inbox import approvals_panel, decide, decide_words_view
from console.stage.lineage_view import admin_lineage_view, stage_lineage
from console.stage.memory_panel import memory_panel
from console.stage.mission_page import control as mission_control
from console.stage.mission_page import mission_page
from console.stage.mission_page import rate as mission_rate
from console.stage.notices_panel import dismiss_notice, inbox_panel
from console.stage.opportunities_board import opportunities_board

handler404 = "console.stage.mission_page.page_not_found"

urlpatterns = [
    path("", lambda request: HttpResponseRedirect("/stage/")),
    # Pages without an icon link (the admin) make browsers ask here; answer, not a 404.
    path("favicon.ico", lambda request: HttpResponseRedirect(static("stage/favicon.svg"))),
    path("stage/", stage.stage, name="stage"),
    # Opscore's own sign-in (LOGIN_URL): the admin's refuses anyone not staff, who may still
    # watch the Stage. LoginView follows `next` only to this site.
    path(
        "stage/login",
        auth.LoginView.as_view(
            template_name="stage/sign_in.html", next_page="stage", authentication_form=SignInForm
        ),
        name="stage-login",
    ),
    path("stage/logout", auth.LogoutView.as_view(next_page="stage"), name="stage-logout"),
    path("stage/events", stage.older_events, name="stage-events"),
    path("stage/health", stage.health, name="stage-health"),
    path("stage/task", give_task, name="stage-task"),
    path("stage/missions", stage.missions_panel, name="stage-missions"),
    path("stage/memory", memory_panel, name="stage-memory"),
    path("stage/swimlane", stage.swimlane, name="stage-swimlane"),
    path("stage/office", stage.office, name="stage-office"),
    path("stage/missions/<int:mission_id>", mission_page, name="stage-mission"),
    path(
        "stage/missions/<int:mission_id>/control",
        mission_control,
        name="stage-mission-control",
    ),
    path("stage/missions/<int:mission_id>/feedback", mission_rate, name="stage-mission-feedback"),
    path("stage/approvals", approvals_panel, name="stage-approvals"),
    path("stage/agents", agents_page, name="stage-agents"),
    path("stage/opportunities", opportunities_board, name="stage-opportunities"),
    path("stage/goals", goals_page, name="stage-goals"),
    path("stage/goals/<int:goal_id>", goal_page, name="stage-goal"),
    path("stage/inbox", inbox_panel, name="stage-inbox"),
    path("stage/coding", coding_panel, name="stage-coding"),
    path("stage/inbox/<int:notice_id>/dismiss", dismiss_notice, name="stage-dismiss"),
    path("stage/conversations", conversations, name="stage-conversations"),
    path("stage/conversations/<int:conversation_id>", conversation_page, name="stage-conversation"),
    path("stage/approvals/<int:proposal_id>", decide, name="stage-decide"),
    path("stage/approvals/words/<int:step_id>", decide_words_view, name="stage-decide-words"),
    path("stage/missions/<int:mission_id>/playback", stage.playback, name="stage-playback"),
    path("admin/lineage/<str:kind>/<int:pk>/", admin_lineage_view, name="admin-lineage"),
    path("stage/lineage/<str:kind>/<int:pk>", stage_lineage, name="stage-lineage"),
    path("stage/threads/<str:kind>/<int:subject_id>", talk.thread_page, name="stage-thread"),
    path(
        "stage/threads/<str:kind>/<int:subject_id>/comment",
        talk.post_to_thread,
        name="stage-comment",
    ),
    path("stage/chat", talk.chat_page, name="stage-chat"),
    path("stage/chat/send", talk.chat_send, name="stage-chat-send"),
    path("stage/chat/<int:message_id>/<str:verb>", talk.chat_draft, name="stage-chat-draft"),
    path("api/ops/threads/<str:kind>/<int:subject_id>", api_talk.thread, name="api-thread"),
    path("api/ops/chat", api_talk.chat, name="api-chat"),
    path("api/ops/chat/<int:message_id>/<str:verb>", api_talk.chat_draft, name="api-chat-draft"),
    path("admin/", admin.site.urls),
    path("api/ops/proposals", api.create_proposal, name="api-proposals"),
    path("api/ops/proposals/<int:proposal_id>", api_proposals.show, name="api-proposal"),
    path(
        "api/ops/proposals/<int:proposal_id>/<str:verb>",
        api_proposals.decide,
        name="api-proposal-decide",
    ),
    path("api/ops/steps/<int:step_id>/words", api_words.show, name="api-step-words"),
    path("api/ops/steps/<int:step_id>/<str:verb>", api_words.decide, name="api-step-decide"),
    path("api/ops/events", api.list_events, name="api-events"),
    path("api/ops/status", api.status, name="api-status"),
    path("api/ops/heartbeat", api.heartbeat, name="api-heartbeat"),
    path("api/ops/metrics", api.create_metric, name="api-metrics"),
    path("api/ops/conversations", api.request_conversation, name="api-conversations"),
    path("api/ops/overrides", api_overrides.overrides, name="api-overrides"),
    path(
        "api/ops/missions/<int:mission_id>/<str:verb>",
        api_missions.control,
        name="api-mission-control",
    ),
    path("api/ops/goals", api_goals.goals, name="api-goals"),
    path("api/ops/goals/<int:goal_id>", api_goals.goal, name="api-goal"),
    path("api/ops/goals/<int:goal_id>/revise", api_goals.revise, name="api-goal-revise"),
    path("api/ops/goals/<int:goal_id>/close", api_goals.close, name="api-goal-close"),
    path("api/ops/feedback", api_goals.feedback, name="api-feedback"),
    path("metrics", api.metrics, name="metrics"),
    path("healthz", probes.healthz, name="healthz"),
    path("readyz", probes.readyz, name="readyz"),
    path("api/agent/jobs/<int:job_id>", api_agent.agent_job, name="api-agent-job"),
    path("api/agent/tools", api_agent.agent_tools, name="api-agent-tools"),
    path("api/agent/<slug:verb>", api_agent.agent_verb, name="api-agent-verb"),
    path("api/ops/overrides/<int:override_id>/lift", api_overrides.lift, name="api-override-lift"),
]
