"""Threads in the admin: every comment, reply and question as evidence (read-only), filters for
open questions, and *Add comment* to write on a thread or answer a question through the same
action as the Stage (the owning agent replies; an answer wakes the waiting step)."""

import functools

from django import forms
from django.contrib import admin
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html

from missions.models import Comment, SubjectKind
from missions.talk import TalkRefused
from missions.threads import answer_remark, post_comment
from opscore.models import operator_actor


class CommentForm(forms.ModelForm):
    subject_kind = forms.ChoiceField(choices=SubjectKind.choices)
    subject_id = forms.IntegerField(min_value=1)
    text = forms.CharField(
        widget=forms.Textarea, help_text="untrusted text; @agent names who answers"
    )
    answers = forms.IntegerField(required=False, help_text="the question (T id) this answers")

    class Meta:
        model = Comment
        fields = ["subject_kind", "subject_id", "text"]

    def clean(self):
        """Posting is the validation: a refusal (closed question, rate, length) shows here."""
        data = super().clean()
        if self.errors:
            return data
        try:
            self.posted = post_comment(
                data["subject_kind"],
                data["subject_id"],
                actor=operator_actor(self.user),
                user=self.user,
                text=data["text"],
                answers=data.get("answers"),
                reply_now=False,  # the admin's page is one transaction: replied after it
            )
        except TalkRefused as refused:
            raise forms.ValidationError(str(refused)) from None
        return data


class OpenQuestionFilter(admin.SimpleListFilter):
    title, parameter_name = "question", "question"

    def lookups(self, request, model_admin):
        return [("open", "open (a step waits)")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(pk__in=Comment.objects.open_questions().values("pk"))
        return queryset


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "thread_link",
        "kind",
        "agent",
        "actor",
        "short_text",
        "starts_work",
        "created_at",
    ]
    list_filter = [OpenQuestionFilter, "kind", "subject_kind", "starts_work", "agent"]
    search_fields = ["text", "actor"]
    list_select_related = ["agent"]
    raw_id_fields = ["in_reply_to", "mission", "step", "llm_call", "operator"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, **kwargs)
        form = super().get_form(request, obj, form=CommentForm, **kwargs)
        form.user = request.user
        return form

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Comment._meta.fields] if obj else []

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.__dict__.update(Comment.objects.get(pk=form.posted.pk).__dict__)
        transaction.on_commit(functools.partial(answer_remark, form.posted))

    @admin.display(description="thread")
    def thread_link(self, comment):
        url = reverse("stage-thread", args=[comment.subject_kind, comment.subject_id])
        return format_html('<a href="{}">{}</a>', url, comment.thread)

    @admin.display(description="text")
    def short_text(self, comment):
        return comment.text[:120]
