"""A stand-in coding harness for trying the coding lane without Claude Code or Codex.

Opscore runs it in the run's worktree with the prompt as its last argument. It makes
`app.py` print "hello, world", notes the task in CHANGES.md, and prints stream-json lines in
Claude Code's shape (a `result` message with a cost and a session id), as a real harness
would. Whether the work is done is decided by the repository's tests, not by this output.
"""

import json
import sys
import time
from pathlib import Path

prompt = sys.argv[-1]
time.sleep(2)  # long enough to watch the run move on the Stage
Path("app.py").write_text("print('hello, world')\n")
task = next((line for line in prompt.splitlines() if line.startswith("Task")), "a change")
with Path("CHANGES.md").open("a") as notes:
    notes.write(f"- {task}\n")
print(json.dumps({"type": "assistant", "message": {"content": [{"type": "text", "text": task}]}}))
print(
    json.dumps(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "result": "app.py now prints hello, world; CHANGES.md notes the task",
            "total_cost_usd": 0,
            "session_id": f"demo-{int(time.time())}",
        }
    )
)
