"""`pip install .` in a clean venv without ROS gives a working ROS-free core and CLI."""

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_core_installs_and_imports_without_ros(tmp_path):
    env_dir = tmp_path / "clean-venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # Build from a copy of the tracked sources only, so local build/ and install/ trees cannot leak in.
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for rel in filter(None, files):
        rel = Path(rel.decode())
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes((ROOT / rel).read_bytes())
    # Bounded network waits: a stalled registry fails this test in minutes instead of hanging the suite.
    install = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--timeout", "30",
                              "--retries", "2", str(src)], capture_output=True, text=True, timeout=420)
    assert install.returncode == 0, install.stderr[-3000:]
    probe = subprocess.run(
        [str(py), "-c",
         "import importlib.util, pkgutil, worldforge_ros.core as c\n"
         "assert importlib.util.find_spec('rclpy') is None, 'rclpy must not be installed here'\n"
         "mods = [m.name for m in pkgutil.iter_modules(c.__path__, 'worldforge_ros.core.')]\n"
         "[importlib.import_module(m) for m in mods]\n"
         "print(len(mods))"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert int(probe.stdout.strip()) >= 5
    cli = subprocess.run([str(env_dir / "bin" / "worldforge-ros"), "--help"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert cli.returncode == 0, cli.stderr[-3000:]
    assert "worldforge-ros" in cli.stdout
