"""The admin's names read as a person writes them: "LLM calls", not "Llm calls"; a field's
label with one colon; a list filter's choices in one style ("API", "human", "first-boot
plan")."""

import re

import pytest
from django.urls import reverse

from tests.factories import propose

pytestmark = pytest.mark.django_db


def test_the_index_names_the_llm_models_as_llm(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()

    assert ">LLM calls</a>" in page and ">LLM spends</a>" in page
    assert "Llm " not in page


def test_a_proposals_page_labels_its_lineage_link_with_one_colon(admin_client, agent):
    proposal = propose(agent, "analyze")

    page = admin_client.get(reverse("admin:missions_proposal_change", args=[proposal.id]))

    html = page.content.decode()
    assert "?:</label>" not in html and "Lineage:</label>" in html
    assert "why did this happen? causes and effects →</a>" in html


def test_the_proposal_source_filter_lists_its_choices_in_one_style(admin_client):
    page = admin_client.get(reverse("admin:missions_proposal_changelist")).content.decode()

    by_source = page.split("By source")[1].split("</details>")[0]
    choices = re.findall(r'source__exact=[^"]*">([^<]+)</a>', by_source)
    assert choices[:2] == ["API", "trigger"] and choices[-3:] == [
        "human",
        "chat",
        "first-boot plan",
    ]
