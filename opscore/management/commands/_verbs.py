"""Subcommands (`override pause-lane …`, `override list …`) that take the command's own flags
on either side of the verb, so `override list --json` works as the README writes it.

argparse only knows a flag on the parser that declared it: `--json` declared before the verbs is
refused after one (exit 2). Every verb gets a copy of the parent's flags whose default is
SUPPRESS, so a flag given after the verb sets the value and one not given leaves the parent's.
"""

import argparse
import copy

NOT_SHARED = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)


class VerbsAction(argparse._SubParsersAction):
    """A subparsers action whose every parser also accepts the parent parser's flags."""

    parent: argparse.ArgumentParser | None = None

    def add_parser(self, name, **kwargs):
        verb = super().add_parser(name, **kwargs)
        for action in self.parent._actions if self.parent else ():
            if action.option_strings and not isinstance(action, NOT_SHARED):
                shared = copy.copy(action)
                shared.default, shared.required = argparse.SUPPRESS, False
                verb._add_action(shared)
        return verb


def add_verbs(parser, dest: str = "verb", **kwargs) -> VerbsAction:
    """Declare the command's own flags first, then call this; every verb added shares them."""
    verbs = parser.add_subparsers(dest=dest, required=True, action=VerbsAction, **kwargs)
    verbs.parent = parser
    return verbs
