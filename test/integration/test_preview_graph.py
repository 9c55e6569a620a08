"""Visual preview at approval (issue 18 item 3) on a bringup graph: the gate (previews:=true) renders each
candidate's end pose and the selected candidate's strip into the run workspace, records one scene/preview event
with their sha256 digests in the chain, `worldforge-ros approve` says where they are, and the report embeds them."""

import hashlib
import json
import re
import subprocess
import sys
import threading

import pytest

from graph_helpers import gate_bag, gate_graph, gate_plan
from ros_harness import node_env, wait_until

pytestmark = pytest.mark.graph

from worldforge_ros.scene.scene import import_mujoco

import_mujoco()  # scripts/setup installs mujoco: a missing one is a setup failure, never a skip


def test_previews_are_rendered_recorded_announced_and_embedded(ros_graph, node_processes, tmp_path):
    from worldforge_ros.evidence.report import render_report
    from worldforge_ros.evidence.verify import verify_bag
    from worldforge_ros.msg import ProviderEvent
    from worldforge_ros.nodes.evidence_qos import EVENTS_QOS

    events, got = [], threading.Event()

    def on_event(msg):
        if msg.provider == "scene" and msg.operation == "preview":
            events.append(msg)
            got.set()

    ros_graph.node.create_subscription(ProviderEvent, "/worldforge/events", on_event, EVENTS_QOS)
    proc, clients, _counts = gate_graph(ros_graph, node_processes, tmp_path, approval={"previews": True})
    plan = gate_plan(ros_graph, clients)
    assert wait_until(lambda: any(json.loads(e.metadata_json)["plan_digest"] == plan.plan_digest for e in events),
                      timeout=60), "no preview event for the plan: " + proc.output()[-2000:]
    ev = next(e for e in events if json.loads(e.metadata_json)["plan_digest"] == plan.plan_digest)
    meta = json.loads(ev.metadata_json)
    run_dir = gate_bag(tmp_path).parent
    files = meta["files"]
    cands = [f for f in files if re.fullmatch(r"previews/plan-[0-9a-f]+/candidate-\d+\.png", f)]
    strip = [f for f in files if re.fullmatch(r"previews/plan-[0-9a-f]+/selected-strip-\d\.png", f)]
    assert len(cands) == len(plan.candidates) and len(strip) == 4, files
    for rel, digest in files.items():
        path = run_dir / rel
        assert path.is_file(), rel
        assert digest == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert sorted(p.relative_to(run_dir).as_posix() for p in run_dir.glob("previews/*/*.png")) == sorted(files)
    print(f"preview render: {ev.duration_ms / 1000.0:.2f}s for {len(files)} frames")

    # The operator's CLI says where they are (latched event on /worldforge/events).
    shown = subprocess.run([sys.executable, "-m", "worldforge_ros.cli", "approve", "--digest", plan.plan_digest,
                            "--operator", "alice", "--yes", "--checklist-confirmed"], capture_output=True, text=True,
                           env=node_env(), timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert f"{len(files)} images" in shown.stdout and str(run_dir / "previews") in shown.stdout, shown.stdout

    assert proc.stop() == "SIGINT"  # closes the bag
    bag = gate_bag(tmp_path)
    report = verify_bag(bag)
    assert report.ok, report
    out = render_report(bag)
    md = out.markdown.read_text()
    assert md.count("sha256 verified") == len(files), md
    assert "Previews not shown" not in md
    assert html_has_images(out.html.read_text(), len(files))

    # A tampered preview is not embedded, and the report says so.
    (run_dir / cands[0]).write_bytes(b"not the recorded image")
    md2 = render_report(bag, tmp_path / "report2").markdown.read_text()
    assert "Previews not shown" in md2 and "does not match the recorded digest" in md2
    assert md2.count("sha256 verified") == len(files) - 1


def html_has_images(text: str, n: int) -> bool:
    return text.count("preview:") >= n and text.count("data:image/png;base64,") >= n
