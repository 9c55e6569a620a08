"""worldforge_ros.scene: the MuJoCo Panda scene, its collision check and its renderer (ROS-free)."""

from __future__ import annotations

import numpy as np
import pytest

from worldforge_ros.scene import EMBODIMENT_JOINTS, HOME

from worldforge_ros.scene.scene import import_mujoco

import_mujoco()  # scripts/setup installs mujoco: a missing one is a setup failure, never a skip

# Arm swung to -y (away from every object) and pitched down through the table top.
DOWN_START = np.array([-1.5, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])


def _line(start, end, n=20, t_end=2.0):
    start, end = np.asarray(start, float), np.asarray(end, float)
    return np.linspace(t_end / n, t_end, n), np.array([start + (end - start) * a for a in np.linspace(0, 1, n)])


@pytest.fixture(scope="module")
def scene():
    from worldforge_ros.scene import Scene

    s = Scene()
    yield s
    s.close()


def test_joint_mapping_puts_home_end_effector_where_a_panda_has_it(scene):
    scene.set_joint_positions(EMBODIMENT_JOINTS, HOME)
    np.testing.assert_allclose(scene.joint_positions(), HOME, atol=1e-12)
    np.testing.assert_allclose(scene.end_effector(), [0.307, 0.0, 0.487], atol=0.005)
    assert scene.contacts() == []


def test_trajectory_through_the_table_is_infeasible_with_pair_and_time():
    from worldforge_ros.scene import check_trajectory

    end = DOWN_START.copy()
    end[1], end[3] = 1.5, -1.0
    times, pos = _line(DOWN_START, end)
    feasible, violations = check_trajectory(times, pos, EMBODIMENT_JOINTS)
    assert not feasible
    assert violations and all(v.startswith("collision panda_") for v in violations), violations
    first = violations[0]
    assert "/table at t=" in first, violations
    t = float(first.rsplit("t=", 1)[1].rstrip("s"))
    assert times[0] < t <= times[-1]


def test_free_space_trajectory_is_feasible():
    from worldforge_ros.scene import check_trajectory

    times, pos = _line(HOME, [0.5, -0.5, 0.2, -2.0, 0.1, 1.8, 0.9])
    assert check_trajectory(times, pos, EMBODIMENT_JOINTS, start_positions=HOME) == (True, [])


def test_sampling_resolution_is_every_20ms_plus_waypoints():
    from worldforge_ros.scene.collision import DEFAULT_RESOLUTION_S, sample_times

    ts = sample_times(np.array([0.5, 1.0, 1.05]), DEFAULT_RESOLUTION_S, with_start=True)
    assert ts[0] == 0.0 and ts[-1] == 1.05 and 1.05 in ts and 0.5 in ts
    assert np.max(np.diff(ts)) <= DEFAULT_RESOLUTION_S + 1e-12


def test_unknown_joint_is_reported_not_checked():
    from worldforge_ros.scene import check_trajectory

    assert check_trajectory([1.0], [[0.0]], ["elbow"]) == (False, ["unknown_joint:elbow"])


def test_position_actuators_track_with_real_error(scene):
    scene.set_joint_positions(EMBODIMENT_JOINTS, HOME)
    goal = np.array(HOME) + 0.3
    scene.set_targets(EMBODIMENT_JOINTS, goal)
    scene.advance(0.05)
    early = np.abs(scene.joint_positions() - goal).max()
    assert early > 0.05  # physics: not a teleport
    scene.advance(2.0)
    assert np.abs(scene.joint_positions() - goal).max() < 0.01


def test_render_shape_or_typed_reason(scene):
    from worldforge_ros.scene import RenderUnavailable

    try:
        img = scene.render("front")
    except RenderUnavailable as exc:
        assert exc.reason == "render_unavailable"
        pytest.skip(f"no headless GL here: {exc}")
    assert img.shape == (scene.height, scene.width, 3) and img.dtype == np.uint8
    assert img.std() > 5  # not a blank frame


NEAR_TABLE = np.array([-1.5, 0.8, 0.0, -1.3, 0.0, 1.571, 0.785])  # arm swung to -y, fingers just above the table


def test_planning_marks_candidates_through_the_table_infeasible_and_selects_a_free_one():
    """core/planning.py with the scene's check: of two policy chunks from the same start, the one pitching
    down through the table is infeasible with the contact pair and time, and the free one is selected even
    though the scorer prefers the colliding one."""
    import asyncio

    from worldforge_ros.core.observation import ObservationData
    from worldforge_ros.core.planning import PlannerDefaults, PlanningCore, ProviderReply, resolve_settings
    from worldforge_ros.core.translator_registry import TranslatorRegistry
    from worldforge_ros.nodes.planner_node import scene_feasibility

    down, up = NEAR_TABLE.copy(), NEAR_TABLE.copy()
    down[1], up[1] = 1.4, 0.5
    chunks = np.stack([np.array([NEAR_TABLE + (end - NEAR_TABLE) * (k / 16) for k in range(1, 17)])
                       for end in (down, up)])

    async def policies(names, n):
        return {"p": ProviderReply("p", True, actions=chunks)}

    async def scorer(name, candidates):  # prefers candidate 0 (the colliding one)
        return ProviderReply(name, True, scores=(0.0, 1.0), best_index=0, lower_is_better=True)

    core = PlanningCore(TranslatorRegistry.from_config(None), feasibility=scene_feasibility("scene"))
    defaults = PlannerDefaults(("p",), "s", "panda_7dof", 2, 8, 10.0, 60.0, ("p", "s"))
    obs = ObservationData(stamp_ns=1, joint_names=tuple(EMBODIMENT_JOINTS), joint_positions=NEAR_TABLE)
    plan = asyncio.run(core.plan(resolve_settings(defaults), obs, policies, scorer, run_id="r",
                                 request_id="q")).plan
    hit, free = plan.candidates
    assert not hit.feasible and any(v.startswith("collision panda_") and "/table at t=" in v for v in hit.violations)
    assert free.feasible and not free.violations
    assert plan.selected_index == 1
