"""worldforge_ros.scene.preview: end-pose previews and the selected candidate's strip, rendered on one worker
thread into PNG files whose sha256 digests are returned (ROS-free)."""

from __future__ import annotations

import hashlib
import threading
import time

import numpy as np
import pytest

from worldforge_ros.core.digests import sha256_digest
from worldforge_ros.core.plan import PlanData
from worldforge_ros.core.selection import pool_candidates, select_candidate
from worldforge_ros.core.trajectory import StartState
from worldforge_ros.core.translator_registry import TranslatorRegistry
from worldforge_ros.scene import EMBODIMENT_JOINTS, HOME, SceneUnavailable

PANDA = tuple(EMBODIMENT_JOINTS)


def two_candidate_plan() -> PlanData:
    """Two candidates from home: one swings joint 1 to +0.9 rad, the other to -0.9 rad (different end poses)."""
    translator = TranslatorRegistry.from_config().get("panda_7dof")
    start = StartState(PANDA, np.asarray(HOME, dtype=np.float64))
    chunks = []
    for sign in (1.0, -1.0):
        end = np.array(HOME, dtype=np.float64)
        end[0] += sign * 0.9
        chunks.append(np.array([HOME + (end - HOME) * (k / 16) for k in range(1, 17)]))
    candidates = translator.translate(np.stack(chunks), start, "panda_7dof")
    pooled = pool_candidates([("p", candidates)])
    selection = select_candidate([p.feasible for p in pooled])
    return PlanData.from_selection(pooled, selection, start_state=start, task="reach", embodiment="panda_7dof",
                                   policy_providers=["p"], plan_id="plan-0123456789abcdef", run_id="r",
                                   request_id="q", event_digests=[sha256_digest("e")])


@pytest.fixture(scope="module")
def renderer():
    from worldforge_ros.scene.preview import PreviewRenderer

    r = PreviewRenderer()
    yield r
    r.close()


def test_encode_png_is_deterministic_and_valid():
    from worldforge_ros.scene.preview import encode_png

    img = (np.arange(4 * 5 * 3) % 256).astype(np.uint8).reshape(4, 5, 3)
    png = encode_png(img)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png == encode_png(img.copy())
    assert png[12:16] == b"IHDR" and int.from_bytes(png[16:20], "big") == 5 and int.from_bytes(png[20:24], "big") == 4


def test_two_candidate_plan_renders_end_poses_and_strip_with_matching_digests(renderer, tmp_path):
    plan = two_candidate_plan()
    assert len(plan.candidates) == 2
    out = tmp_path / "previews" / plan.plan_id
    caller = threading.get_ident()
    started = time.monotonic()
    try:
        files = renderer.render_plan(plan, out, relative_to=tmp_path)
    except SceneUnavailable as exc:  # no mujoco or no headless GL: typed reason
        assert exc.reason  # a stable, typed reason
        pytest.skip(f"rendering unavailable ({exc.reason}): {exc}")
    elapsed = time.monotonic() - started
    sel = plan.selected_index
    expected = {f"previews/{plan.plan_id}/candidate-{i}.png" for i in range(2)}
    expected |= {f"previews/{plan.plan_id}/selected-strip-{k}.png" for k in range(4)}
    assert set(files) == expected, files
    for rel, digest in files.items():
        data = (tmp_path / rel).read_bytes()
        assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
    d = {rel.rsplit("/", 1)[1]: digest for rel, digest in files.items()}
    assert d["candidate-0.png"] != d["candidate-1.png"]  # different end poses, different images
    # The strip ends at the selected candidate's end pose: the same pixels, so the same deterministic PNG.
    assert d["selected-strip-3.png"] == d[f"candidate-{sel}.png"]
    assert d["selected-strip-0.png"] != d["selected-strip-3.png"]
    assert renderer._pool._threads and all(t.ident != caller for t in renderer._pool._threads)
    print(f"rendered {len(files)} frames in {elapsed:.2f}s")


def test_a_second_plan_renders_on_the_same_worker_and_plan_json_is_accepted(renderer, tmp_path):
    plan = two_candidate_plan()
    try:
        files = renderer.submit(plan.plan_json(), tmp_path).result(60)
    except SceneUnavailable as exc:
        pytest.skip(f"rendering unavailable ({exc.reason}): {exc}")
    assert len(renderer._pool._threads) == 1
    assert "candidate-0.png" in files and (tmp_path / "candidate-0.png").is_file()


def test_plan_without_scene_joints_is_a_typed_refusal(renderer, tmp_path):
    data = two_candidate_plan().to_dict()
    for cand in data["candidates"]:
        cand["trajectory"]["joint_names"] = [f"other_{i}" for i in range(7)]
    with pytest.raises(SceneUnavailable) as info:
        renderer.render_plan(data, tmp_path)
    assert info.value.reason in ("embodiment_not_in_scene", "render_unavailable", "mujoco_missing")
