"""worldforge_ros.core never imports rclpy: every core module imports with `import rclpy` made to fail."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import worldforge_ros.core as core

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = """
import importlib.abc, importlib, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == 'rclpy' or name.startswith('rclpy.'):
            raise ImportError('rclpy is blocked in this test')
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
import rclpy  # noqa  -- proves the blocker works
"""


def test_every_core_module_imports_with_rclpy_blocked():
    modules = sorted(m.name for m in pkgutil.iter_modules(core.__path__, "worldforge_ros.core."))
    assert len(modules) >= 15
    code = BLOCKER.replace("import rclpy  # noqa  -- proves the blocker works", "") + (
        "try:\n    import rclpy\n    raise SystemExit('blocker failed')\nexcept ImportError:\n    pass\n"
        f"for name in {modules!r}:\n    importlib.import_module(name)\n"
        "assert not any(m == 'rclpy' or m.startswith('rclpy.') for m in sys.modules), 'rclpy got imported'\n"
        "print('ok', len(sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok")
