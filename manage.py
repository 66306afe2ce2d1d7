#!/usr/bin/env python
"""The same entry point as the `opscore` console script (opscore/cli.py)."""

from opscore.cli import main

if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # Ctrl-C: every command was told to stop; no traceback for it
        sys.exit(130)
