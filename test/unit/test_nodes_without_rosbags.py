"""A provider or planner on a GPU host publishes evidence but records nothing: it must start without rosbags
(only the gate, which owns the bag, uses it)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK = """
import builtins
real = builtins.__import__
def guard(name, *args, **kwargs):
    if name == "rosbags" or name.startswith("rosbags."):
        raise ImportError("rosbags is not installed here")
    return real(name, *args, **kwargs)
builtins.__import__ = guard
"""


def test_provider_and_planner_nodes_import_without_rosbags():
    code = BLOCK + "import worldforge_ros.nodes.provider_node, worldforge_ros.nodes.planner_node\nprint('ok')\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]
