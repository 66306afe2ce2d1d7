#!/usr/bin/env python
"""The same entry point as the `opscore` console script (opscore/cli.py)."""

from opscore.cli import main

if __name__ == "__main__":
    main()
