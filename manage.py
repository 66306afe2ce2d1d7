#!/usr/bin/env python
import os
import sys


def main():
    from opscore.localenv import load_local_secrets

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")
    load_local_secrets()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C: every command was told to stop; no traceback for it
        sys.exit(130)
