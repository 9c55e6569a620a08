"""A lab's install from the committed tree: ``git archive HEAD`` into a fresh workspace, ``colcon build``, run.

The workspace ``<tmp>/ws/src/worldforge_ros`` holds only committed files (intended: this tests what a lab
clones). It is built with the current ROS environment minus every trace of this repository's own build (its
``install/`` prefixes, its source tree), then every installed executable must answer ``--help`` without
initializing rclpy and run for 5 s on the private domain, stop on SIGINT with exit code 0 and no traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.graph

ROOT = Path(__file__).resolve().parents[2]
PKG = "worldforge_ros"
NODES = ("provider_node", "planner_node", "approval_node", "sim_controller", "bringup")
RUN_S = 5.0
STOP_TIMEOUT_S = 20.0
BUILD_TIMEOUT_S = 900

# Parameter names each node's --help must list, computed inside the archive's environment.
PARAM_NAMES_SNIPPET = """
import json
from worldforge_ros.nodes import approval_node, planner_node, provider_node, sim_controller
from worldforge_ros.providers import registry
names = {
    "provider_node": [s.name for s in provider_node.BASE_PARAMS]
    + [s.name for n in registry.names() for s in registry.get(n).prefixed_params()],
    "planner_node": [s.name for s in planner_node.PARAMS],
    "approval_node": [s.name for s in approval_node.PARAMS],
    "sim_controller": [s.name for s in sim_controller.PARAMS],
}
import worldforge_ros, worldforge_ros.msg
names["__paths__"] = list(worldforge_ros.__path__) + [worldforge_ros.msg.__file__]
print(json.dumps(names))
"""


def _require_git_head() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed: cannot `git archive HEAD`")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip(f"{ROOT} has no HEAD commit (or is not a git repository): {head.stderr.strip()}")


def _own_prefixes(env: dict[str, str]) -> list[Path]:
    """This repository and every other worldforge_ros install prefix on the environment (never the venv)."""
    found = {ROOT.resolve()}
    for var in ("AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH", "COLCON_PREFIX_PATH"):
        for item in filter(None, env.get(var, "").split(os.pathsep)):
            prefix = Path(item)
            if ((prefix / "share" / PKG / "package.xml").exists() or (prefix / PKG / "share" / PKG).is_dir()) \
                    and prefix.resolve() != Path(sys.prefix).resolve():
                found.add(prefix.resolve())
    return sorted(found)


def clean_environment() -> dict[str, str]:
    """The current environment (venv, ROS) without this repository's install/ and source tree."""
    env = os.environ.copy()
    prefixes = _own_prefixes(env)

    def ours(item: str) -> bool:
        try:
            path = Path(item).resolve()
        except (OSError, RuntimeError):
            return False
        return any(path == p or p in path.parents for p in prefixes)

    for key in ("WORLDFORGE_ROS_ROOT", "COLCON_PREFIX_PATH", "PWD", "OLDPWD"):
        env.pop(key, None)
    for key, value in list(env.items()):
        if not any(str(p) in value for p in prefixes):
            continue
        kept = [item for item in value.split(os.pathsep) if item and not ours(item)]
        if kept:
            env[key] = os.pathsep.join(kept)
        else:
            del env[key]
    leftovers = {k: v for k, v in env.items() if any(str(p) in v for p in prefixes)}
    assert not leftovers, f"environment still points at this repository's build: {leftovers}"
    return env


def sourced_environment(ws: Path, base: dict[str, str]) -> dict[str, str]:
    """``source install/setup.bash`` of the fresh workspace, captured once."""
    out = subprocess.run(["bash", "-c", "set +u; source install/setup.bash >/dev/null && env -0"], cwd=ws, env=base,
                         capture_output=True, check=True, timeout=60).stdout
    env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    """SIGINT by pid; escalate (and report it) if the process does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
        return proc.returncode, ""
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
            return proc.returncode, "ignored SIGINT (stopped by SIGTERM)"
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
            return proc.returncode, "ignored SIGINT and SIGTERM (killed)"


def run_for_a_while(commands: dict[str, list[str]], env: dict[str, str], cwd: Path, logs: Path) -> list[str]:
    """Start every command at once, check each is alive after RUN_S, SIGINT it; the problems found."""
    logs.mkdir(parents=True, exist_ok=True)
    procs = {}
    for name, argv in commands.items():
        log = open(logs / f"{name}.log", "wb")
        procs[name] = (subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True), log)
    problems = []
    try:
        time.sleep(RUN_S)
        alive = {name: proc.poll() is None for name, (proc, _) in procs.items()}
    finally:
        results = {name: _stop(proc) for name, (proc, _) in procs.items()}
        for _, log in procs.values():
            log.close()
    for name, (code, escalation) in results.items():
        output = (logs / f"{name}.log").read_text(errors="replace")
        if not alive[name]:
            problems.append(f"{name} exited within {RUN_S} s (code {code}):\n{output[-3000:]}")
        elif escalation or code != 0:
            problems.append(f"{name}: {escalation or f'exit code {code} after SIGINT'}:\n{output[-3000:]}")
        elif "Traceback" in output:
            problems.append(f"{name} printed a traceback:\n{output[-3000:]}")
    return problems


def test_archive_builds_and_every_executable_runs(tmp_path, record_property):
    _require_git_head()
    domain = os.environ.get("ROS_DOMAIN_ID")
    if not domain:
        pytest.fail("ROS_DOMAIN_ID is not set: run the suite through scripts/test (private DDS domain)")
    if shutil.which("colcon") is None:
        pytest.fail("colcon not on PATH: `source scripts/env.sh` first")

    # ---- the committed tree in a fresh workspace ------------------------------------------------------------
    ws = tmp_path / "ws"
    src = ws / "src" / PKG
    src.mkdir(parents=True)
    archive = tmp_path / "head.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), "HEAD"], check=True,
                   timeout=120)
    with tarfile.open(archive) as tar:
        tar.extractall(src, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    assert (src / "package.xml").is_file() and (src / "CMakeLists.txt").is_file()

    base_env = clean_environment()
    t0 = time.monotonic()
    build = subprocess.run(["colcon", "build", "--base-paths", "src", "--event-handlers", "console_direct-"],
                           cwd=ws, env=base_env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    build_s = time.monotonic() - t0
    record_property("colcon_build_s", round(build_s, 1))
    print(f"\ncolcon build of `git archive HEAD`: {build_s:.1f} s")
    assert build.returncode == 0, f"colcon build failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}"

    prefix = ws / "install" / PKG
    share = prefix / "share" / PKG
    assert (share / "launch" / "plan_and_review.launch.py").is_file()
    assert sorted(p.name for p in (share / "config").glob("*.yaml")), "no config/*.yaml installed"
    assert (share / "config" / "dry_run.yaml").is_file()
    assert (share / "package.xml").is_file()

    env = sourced_environment(ws, base_env)
    env["ROS_DOMAIN_ID"] = domain
    env["ROS_LOG_DIR"] = str(tmp_path / "ros_log")
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    # ---- the package imports from the fresh install, not from this repository -------------------------------
    probe = subprocess.run(["python3", "-c", PARAM_NAMES_SNIPPET], cwd=run_dir, env=env, capture_output=True,
                           text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-3000:]
    expected = json.loads(probe.stdout.strip().splitlines()[-1])
    paths = expected.pop("__paths__")
    assert all(Path(p).resolve().is_relative_to(ws.resolve()) for p in paths), f"imported from elsewhere: {paths}"

    # ---- every executable answers --help without rclpy (an invalid ROS_DOMAIN_ID would fail rclpy.init) -----
    lib = prefix / "lib" / PKG
    executables = sorted(p.name for p in lib.iterdir() if os.access(p, os.X_OK))
    assert set(NODES) <= set(executables), executables
    help_env = dict(env, ROS_DOMAIN_ID="not-a-number")
    helps = {name: subprocess.Popen([str(lib / name), "--help"], cwd=run_dir, env=help_env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name in executables}
    helps["worldforge-ros"] = subprocess.Popen([str(prefix / "bin" / "worldforge-ros"), "--help"], cwd=run_dir,
                                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    problems = []
    for name, proc in helps.items():
        out, err = proc.communicate(timeout=120)
        text = out + err
        if proc.returncode != 0 or "Traceback" in text:
            problems.append(f"{name} --help: exit {proc.returncode}\n{text[-3000:]}")
            continue
        if name == "worldforge-ros":
            wanted = ["worldforge-ros"]
        elif name == "bringup":
            wanted = ["--profile", "--evidence-dir", "--execution-enabled", "--ros-args", "dry_run"]
        else:
            wanted = ["--ros-args", "--params-file", "-p NAME:=VALUE"] + expected.get(name, [])
        missing = [w for w in wanted if w not in out]
        if missing:
            problems.append(f"{name} --help does not mention {missing}:\n{out[-3000:]}")
    assert not problems, "\n\n".join(problems)
    assert set(expected) <= set(executables)

    # ---- every node runs for 5 s on the private domain and stops cleanly on SIGINT ---------------------------
    # Standalone nodes together, then bringup alone (it composes the same node names).
    evidence = tmp_path / "evidence"
    nodes = {
        "provider_node": [str(lib / "provider_node"), "--ros-args", "-p", "provider:=reference"],
        "planner_node": [str(lib / "planner_node")],
        "approval_node": [str(lib / "approval_node"), "--ros-args", "-p", f"evidence_dir:={evidence}"],
        "sim_controller": [str(lib / "sim_controller")],
    }
    problems = run_for_a_while(nodes, env, run_dir, tmp_path / "logs" / "nodes")
    problems += run_for_a_while({"bringup": [str(lib / "bringup"), "--profile", "dry_run", "--evidence-dir",
                                             str(tmp_path / "evidence-bringup")]},
                                env, run_dir, tmp_path / "logs" / "bringup")
    assert not problems, "\n\n".join(problems)
    bringup_log = (tmp_path / "logs" / "bringup" / "bringup.log").read_text(errors="replace")
    assert "bringup: profile dry_run" in bringup_log, bringup_log[-2000:]
