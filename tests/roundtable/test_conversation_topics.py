"""A conversation's topic is read by people on the Stage and by models in every turn's prompt:
characters that hide or reorder text are taken out, as the intake does for a title."""

import pytest

from roundtable.lifecycle import ConversationInvalid, request_conversation

pytestmark = pytest.mark.django_db


def test_a_topic_keeps_no_bidi_override_or_zero_width_character(crew):
    talk = request_conversation(
        "debate", ["devops", "security"], " disk \u202eevil\u202c quo\u200btas ", source="api"
    )

    assert talk.topic == "disk evil quotas"


def test_a_topic_of_invisible_characters_alone_is_refused(crew):
    with pytest.raises(ConversationInvalid, match="needs a topic"):
        request_conversation("debate", ["devops", "security"], "\u202e\u200b", source="api")
