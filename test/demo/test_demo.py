"""scripts/demo end to end (light and full): the README's first command, on this machine, as a user runs it."""

import os
import re
import subprocess
from pathlib import Path

from worldforge_ros.evidence.reader import read_bag
from worldforge_ros.evidence.verify import verify_bag

ROOT = Path(__file__).resolve().parents[2]


def run_demo(tmp_path, *args):
    env = dict(os.environ, WFROS_EVIDENCE_DIR=str(tmp_path / "evidence"),
               WFROS_DOMAIN_ID=os.environ.get("ROS_DOMAIN_ID", "117"))
    proc = subprocess.run([str(ROOT / "scripts" / "demo"), "--light", *args], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    return proc, proc.stdout + proc.stderr


def test_light_demo_approves_executes_and_leaves_verified_evidence(tmp_path):
    proc, out = run_demo(tmp_path, "--approve", "--execute")
    assert proc.returncode == 0, out[-3000:]
    bag = Path(re.search(r"bag:\s+(\S+)", out).group(1))
    report = Path(re.search(r"report:\s+(\S+)", out).group(1))
    assert bag.is_relative_to(tmp_path / "evidence" / "runs")
    assert verify_bag(bag).ok
    assert report.is_file() and "<html" in report.read_text().lower()
    assert "executed on /sim_controller/follow_joint_trajectory" in out
    topics = {r.topic for r in read_bag(bag).records}
    assert {"/worldforge/plans", "/worldforge/approvals", "/worldforge/executions"} <= topics


def test_light_demo_without_approval_records_a_refusal_and_moves_nothing(tmp_path):
    proc, out = run_demo(tmp_path)
    assert proc.returncode == 0, out[-3000:]
    assert "recording a refusal" in out and "nothing executes" in out
    bag = Path(re.search(r"bag:\s+(\S+)", out).group(1))
    assert verify_bag(bag).ok
    assert "/worldforge/executions" not in {r.topic for r in read_bag(bag).records}


def test_full_demo_plans_a_reach_with_models_trained_here_and_executes_it_on_the_scene(tmp_path):
    # WFROS_TRAINED stays the default (~/.cache/worldforge_ros/trained): trained once per machine, like the venv.
    env = dict(os.environ, WFROS_EVIDENCE_DIR=str(tmp_path / "evidence"),
               WFROS_DOMAIN_ID=os.environ.get("ROS_DOMAIN_ID", "117"))
    proc = subprocess.run([str(ROOT / "scripts" / "demo"), "--approve", "--execute"], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "profile lerobot_lewm" in out and "TRAINED HERE on simulated reach demos" in out
    assert "executed on /sim_controller/follow_joint_trajectory" in out  # scene_sim under the sim's name
    assert "(not in training)" in out
    error_cm = float(re.search(r"end effector ([0-9.]+) cm from the target", out).group(1))
    assert error_cm < 100.0  # the arm moved on the scene and the demo measured where it ended (a number, not a pass)
    assert re.search(r"previews \((\d+) images", out), out[-2000:]
    bag = Path(re.search(r"bag:\s+(\S+)", out).group(1))
    assert verify_bag(bag).ok
    events = [r for r in read_bag(bag).records if r.topic == "/worldforge/events"]
    assert events  # provider calls of the real runtimes were recorded
    report = (bag.parent / "reports" / "report.md").read_text()
    assert "scene previews" in report and "sha256 verified" in report  # the report shows the rendered previews
