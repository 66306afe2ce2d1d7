"""Every Opscore command line the README shows, as argv lists a test can parse and run.

Two sources: ```sh blocks (continuations joined, comments dropped, `&&`/`;` split) and inline
code spans. A line counts when its program is `manage.py`, `.venv/bin/python manage.py`,
`opscore` or `.venv/bin/opscore`. Inline spans are usage, not literal: `[--json]` is optional
(each line is tried without its brackets and with every one, the first `a|b` alternative
taken) and placeholders (`ID`, `…`, `D`) become sample values.
"""

import itertools
import re
import shlex
from dataclasses import dataclass

PROGRAMS = ("manage.py", ".venv/bin/opscore", "opscore")
SAMPLES = {"ID": "1", "N": "1", "NAME": "sample", "D": "/tmp/x", "DIR": "/tmp/x", "TARGET": "x"}
SHELL_SPLIT = re.compile(r"\s(?:&&|;|\|\|)\s")


@dataclass(frozen=True)
class ReadmeCommand:
    line: int  # where in README.md, for the failure message
    text: str  # as the README writes it
    argv: tuple[str, ...]  # the command name and its arguments

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.text}"


def program_args(words: list[str]) -> list[str] | None:
    """The arguments after an Opscore program, or None when the words run something else."""
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        words = words[1:]  # VAR=value prefixes
    if words[:1] == [".venv/bin/python"] or words[:1] == ["python"]:
        words = words[1:]
    if not words or not (words[0] in PROGRAMS or words[0].endswith("/manage.py")):
        return None
    return words[1:]


def sh_commands(text: str) -> list[ReadmeCommand]:
    found = []
    for block in re.finditer(r"```sh\n(.*?)```", text, re.S):
        first = text.count("\n", 0, block.start(1)) + 1
        for offset, line in logical_lines(block.group(1)):
            for part in SHELL_SPLIT.split(line):
                words = shlex.split(part, comments=True)
                args = program_args(words)
                if args:
                    found.append(ReadmeCommand(first + offset, part.strip(), tuple(args)))
    return found


def logical_lines(block: str):
    """(offset, line) with backslash continuations joined."""
    pending, start = "", 0
    for offset, raw in enumerate(block.splitlines()):
        if not pending:
            start = offset
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        yield start, pending + raw
        pending = ""


def inline_commands(text: str) -> list[ReadmeCommand]:
    found = []
    for span in re.finditer(r"(?<!`)`([^`]+)`(?!`)", text):
        usage = " ".join(span.group(1).split())
        if not re.match(r"(\.venv/bin/python )?manage\.py |(\.venv/bin/)?opscore ", usage):
            continue
        line = text.count("\n", 0, span.start()) + 1
        for variant in itertools.chain.from_iterable(map(variants, alternatives(usage))):
            words = [sample(w) for w in shlex.split(variant)]
            if any(w.startswith("<") for w in words):
                continue  # `manage.py agentbus <verb>`: a template, not a command line
            found.append(ReadmeCommand(line, usage, tuple(program_args(words))))
    return found


def sample(word: str) -> str:
    """A value for a placeholder; a bare `…` stays for the test to fill from the parser."""
    return SAMPLES.get(word) or (word if word == "…" else word.replace("…", "x"))


def alternatives(usage: str) -> list[str]:
    """`manage.py coding runs | cancel ID | drive`: one usage per verb, the program repeated."""
    first, *rest = re.split(r"\s\|\s(?![^\[]*\])", usage)  # a `|` outside [..]
    words = first.split()
    program = next(i for i, w in enumerate(words) if w.endswith(("manage.py", "opscore")))
    prefix = " ".join(words[: program + 2])  # the program and the command's name
    return [first, *(f"{prefix} {part}" for part in rest)]


def variants(usage: str) -> list[str]:
    """Without the optional [..] parts, then with each one in, then with all of them in."""
    optional = re.findall(r"\[([^\]]+)\]", usage)
    bare = re.sub(r"\s*\[[^\]]+\]", "", usage)
    if not optional:
        return [bare]
    chosen = [part.split("|")[0] for part in optional]
    pieces = [bare, *(f"{bare} {piece}" for piece in chosen), " ".join([bare, *chosen])]
    return list(dict.fromkeys(pieces))


@dataclass(frozen=True)
class AgentApiCall:
    line: int
    verb: str
    body: str  # the JSON after -d, as written

    def __str__(self) -> str:
        return f"README.md:{self.line}: POST /api/agent/{self.verb} {self.body}"


def agent_api_calls(text: str) -> list[AgentApiCall]:
    """`curl … $OPS/api/agent/VERB -d '{…}'` lines of the ```sh blocks, continuations joined."""
    found = []
    for block in re.finditer(r"```sh\n(.*?)```", text, re.S):
        first = text.count("\n", 0, block.start(1)) + 1
        for offset, line in logical_lines(block.group(1)):
            call = re.search(r"/api/agent/([a-z-]+)\s.*-d '([^']*)'", line)
            if line.lstrip().startswith("curl") and call:
                found.append(AgentApiCall(first + offset, call.group(1), call.group(2)))
    return found


def readme_commands(text: str) -> list[ReadmeCommand]:
    return list(itertools.chain(sh_commands(text), inline_commands(text)))
