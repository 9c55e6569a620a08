"""docs/lab-setup.md as a lab types it: every shell block is run here exactly as written (marked *Tested:*) or
marked *Not run here* with a reason; a block with neither fails the test."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ros_harness import node_env

pytestmark = pytest.mark.graph
ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "lab-setup.md"
FENCE = re.compile(r"```bash\n(.*?)```", re.S)


def blocks() -> list[tuple[str, str]]:
    """``(marker, code)`` per bash block: the marker is the last non-empty paragraph line before the block."""
    text = DOC.read_text()
    out = []
    for match in FENCE.finditer(text):
        before = [line.strip() for line in text[:match.start()].splitlines() if line.strip()]
        tail = " ".join(before[-4:])
        marker = "tested" if before and before[-1] == "*Tested:*" else (
            "not-run" if "*Not run here" in tail or "(*not run" in tail else "unmarked")
        out.append((marker, match.group(1)))
    return out


def test_every_block_is_tested_or_says_why_not():
    found = blocks()
    assert found, "no shell blocks found"
    unmarked = [code.splitlines()[0] for marker, code in found if marker == "unmarked"]
    assert not unmarked, f"blocks neither tested nor marked 'Not run here' with a reason: {unmarked}"
    assert sum(1 for marker, _ in found if marker == "tested") >= 4


@pytest.mark.parametrize("index", [i for i, (marker, _) in enumerate(blocks()) if marker == "tested"])
def test_tested_block_runs_as_written(index, tmp_path):
    code = blocks()[index][1]
    subprocess.run(["rm", "-rf", "/tmp/wf-lab"], check=False)
    env = node_env({"PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    env.pop("WFROS_NAMESPACE", None)
    script = tmp_path / "block.sh"
    script.write_text("set -eo pipefail\n" + code)
    proc = subprocess.Popen(["bash", str(script)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.stdout_text, proc.stderr_text = proc.communicate(timeout=240)
    finally:  # whatever the block left running (a graph started with &) is stopped by its process group
        for sig in (signal.SIGINT, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(3 if sig == signal.SIGINT else 0)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    proc.stdout, proc.stderr = proc.stdout_text, proc.stderr_text
    logs = "".join(f"\n--- {p}\n{p.read_text(errors='replace')[-1500:]}" for p in Path("/tmp/wf-lab").glob("*.log")) \
        if Path("/tmp/wf-lab").is_dir() else ""
    assert proc.returncode == 0, f"block {index} failed:\n{code}\nstdout:{proc.stdout[-2000:]}\nstderr:" \
                                 f"{proc.stderr[-3000:]}{logs}"
