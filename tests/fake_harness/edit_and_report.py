"""A fake coding harness for tests: edits files in its working directory as told by its
prompt, prints stream-json lines in Claude Code's shape, and writes its environment so a test
can see what it was given."""

import json
import os
import sys
import time
from pathlib import Path

prompt = sys.argv[-1]
Path(".harness-env.json").write_text(json.dumps(sorted(os.environ)))
if "sleep" in prompt:
    time.sleep(60)
if "greet" in prompt:
    Path("app.py").write_text("print('hello, world')\n")
if "break" in prompt:
    Path("app.py").write_text("raise SystemExit(1)\n")
if "shout" in prompt:
    print("x" * 100_000)
print(json.dumps({"type": "assistant", "message": {"content": [{"type": "text", "text": "done"}]}}))
print(
    json.dumps({"type": "result", "subtype": "success", "total_cost_usd": 0.01, "session_id": "s1"})
)
