"""`opscore CMD --help` and `opscore CMD VERB --help` say what each does: `opscore coding --help`
listed ten verbs with no word about any, and `coding approve --help` was a usage line alone."""

import argparse

import pytest
from django.apps import apps
from django.core.management import get_commands, load_command_class


def our_verbs():
    ours = {config.name for config in apps.get_app_configs() if "/.venv/" not in config.path}
    for name, app in sorted(get_commands().items()):
        if app not in ours:
            continue
        parser = load_command_class(app, name).create_parser("opscore", name)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                listed = {choice.dest: choice.help for choice in action._choices_actions}
                for verb, sub in action.choices.items():
                    yield name, verb, listed.get(verb), sub


VERBS = list(our_verbs())


@pytest.mark.parametrize(
    ("name", "verb", "said", "parser"), VERBS, ids=[f"{v[0]} {v[1]}" for v in VERBS]
)
def test_every_verb_says_what_it_does_in_both_helps(name, verb, said, parser):
    assert said, f"`opscore {name} --help` lists {verb} without a word"
    assert said in " ".join(parser.format_help().split()), f"`opscore {name} {verb} --help`"
