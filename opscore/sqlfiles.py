"""PL/pgSQL functions and trigger definitions as versioned files: `<app>/sql/<name>.v<N>.sql`.

A version never changes once a migration installs it; the next change is a new file and a new
migration. The highest version of each name is what the database runs — a test compares the
installed function bodies with those files — so the current SQL is always readable in one place.
Each file is safe to run again: functions are CREATE OR REPLACE, trigger files drop first.

A condition two functions must share is written once, as a part (`<app>/sql/parts/<name>.v<N>.sql`,
versioned the same way), and named where it goes by a line `-- include: <name>.v<N>`: the line
becomes the part, indented as the line was. Expanded when read, so the database runs plain SQL
and the shared definition costs nothing at run time.
"""

import importlib
import re
from pathlib import Path

VERSIONED = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.sql$")
INCLUDE = re.compile(r"^(?P<indent>[ \t]*)-- include: (?P<part>[a-z_]+\.v\d+)\n", re.M)


def sql_dir(app: str) -> Path:
    return Path(importlib.import_module(app).__file__).parent / "sql"


def read_sql(app: str, name: str, version: int) -> str:
    text = (sql_dir(app) / f"{name}.v{version}.sql").read_text()
    return INCLUDE.sub(lambda line: _part(app, line["part"], line["indent"]), text)


def _part(app: str, part: str, indent: str) -> str:
    """A part, its own includes expanded (a part may include another)."""
    text = (sql_dir(app) / "parts" / f"{part}.sql").read_text()
    lines = INCLUDE.sub(lambda line: _part(app, line["part"], line["indent"]), text).splitlines()
    return "".join(f"{indent}{line}\n" if line else "\n" for line in lines)


def install_sql(app: str, name: str, version: int, *, drop: str = ""):
    """A migration operation installing version N; reversed, it reinstalls N-1 (or runs `drop`
    for the first version)."""
    from django.db import migrations

    reverse = read_sql(app, name, version - 1) if version > 1 else drop
    return migrations.RunSQL(read_sql(app, name, version), reverse)


def latest_versions(app: str) -> dict[str, int]:
    latest: dict[str, int] = {}
    for path in sql_dir(app).glob("*.sql"):
        match = VERSIONED.match(path.name)
        if match:
            name, version = match["name"], int(match["version"])
            latest[name] = max(version, latest.get(name, 0))
    return latest
