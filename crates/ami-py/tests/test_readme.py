"""The README's quick start, run as written against ``ami serve``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def quick_start() -> str:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "no python block under ## Quick start"
    return match.group(1)


def test_the_quick_start_is_ten_lines_and_runs(serve):
    code = quick_start()
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    server = serve("--calls-per-second", "20")
    # The snippet's address is the README's; the test server's port is free.
    code = code.replace('"127.0.0.1", 5038, "admin", "amp111"',
                        f'"{server.host}", {server.port}, "{server.user}", "{server.secret}"')
    assert str(server.port) in code, "the snippet's connect line changed: update this test"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Pong"
    assert lines[1] == "12 channels up"
    assert lines[2].startswith("hangup: ")
