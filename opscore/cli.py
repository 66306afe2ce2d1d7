"""`opscore …`: Django's manage.py as a console script the venv installs (`.venv/bin/opscore`),
so a README line runs as pasted from any directory, without remembering which python."""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    from opscore.localenv import load_local_secrets

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
    load_local_secrets()
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv if argv is None else argv)
    except KeyboardInterrupt:  # Ctrl-C: every command was told to stop; no traceback for it
        sys.exit(130)
