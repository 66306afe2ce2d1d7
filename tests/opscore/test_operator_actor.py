"""Who an operator is in the ledger: `operator:<username>`, within the actor columns' 150."""

from types import SimpleNamespace

from opscore.models import operator_actor


def user(name):
    return SimpleNamespace(get_username=lambda: name)


def test_a_long_username_fits_and_two_that_share_a_long_prefix_stay_apart():
    one, other = "a" * 149 + "1", "a" * 149 + "2"

    assert operator_actor(user("tess")) == "operator:tess"
    assert len(operator_actor(user(one))) == 150
    assert operator_actor(user(one)) != operator_actor(user(other))
    assert operator_actor(user(one)) == operator_actor(user(one))


def test_a_name_that_reorders_text_is_written_without_its_controls():
    """A right-to-left override in a username turned the rest of a feed line around."""
    assert operator_actor(user("tess\u202e<b>x</b>\u200b")) == "operator:tess<b>x</b>"
