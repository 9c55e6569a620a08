"""Reach tasks on the MuJoCo scene: IK, the scripted expert, physics execution, disjoint seeds (no torch)."""

import numpy as np
import pytest

from worldforge_ros.scene import reach


@pytest.fixture(scope="module")
def scene():
    from worldforge_ros.scene.scene import Scene

    s = Scene()
    yield s
    s.close()


def test_ik_puts_the_end_effector_on_the_target(scene):
    task = reach.sample_task(scene, 3)
    lo, hi = np.array(reach.TARGET_BOX).T
    assert np.all(task.target >= lo) and np.all(task.target <= hi)
    assert np.linalg.norm(scene.end_effector_at(task.goal) - task.target) < 0.005
    assert np.linalg.norm(scene.end_effector_at(task.start) - task.target) > 0.01  # there is a reach to do


def test_unreachable_target_has_no_solution(scene):
    assert reach.solve_ik(scene, [3.0, 0.0, 0.3], reach.HOME) is None  # 3 m away: the Panda reaches < 0.9 m


def test_tasks_are_seeded(scene):
    a, b, c = reach.sample_task(scene, 11), reach.sample_task(scene, 11), reach.sample_task(scene, 12)
    assert np.array_equal(a.target, b.target) and np.array_equal(a.start, b.start)
    assert not np.array_equal(a.target, c.target)


def test_minimum_jerk_chunk_starts_near_the_start_and_ends_on_the_goal():
    start, goal = np.zeros(7), np.full(7, 0.8)
    chunk = reach.minimum_jerk(start, goal)
    assert chunk.shape == (reach.HORIZON, 7)
    assert np.abs(chunk[0] - start).max() < 0.1  # panda_7dof max_start_distance
    assert np.allclose(chunk[-1], goal)
    assert np.all(np.diff(chunk[:, 0]) >= 0)  # monotone


def test_expert_chunk_reaches_with_physics_and_a_wrong_one_misses(scene):
    task = reach.sample_task(scene, 5)
    assert reach.reach_error(scene, task, reach.minimum_jerk(task.start, task.goal)) < 0.01
    wrong = reach.minimum_jerk(task.start, task.goal + 0.3)
    assert reach.reach_error(scene, task, wrong) > reach.SUCCESS_TOLERANCE_M


def test_training_and_evaluation_seeds_are_disjoint():
    from worldforge_ros.training.reach_data import EVAL_SEED_BASE, TRAIN_SEED_BASE
    from worldforge_ros.training.reach_models import Recipe

    assert TRAIN_SEED_BASE + max(Recipe().policy_demos, Recipe().cost_model_tasks) < EVAL_SEED_BASE


def test_scene_forward_kinematics_for_envelope_workspace_boxes(scene):
    from worldforge_ros.scene.kinematics import panda_end_effector, scene_fk_for
    from worldforge_ros.scene.model import EMBODIMENT_JOINTS

    fk = scene_fk_for("panda_7dof")
    assert fk is panda_end_effector and scene_fk_for("pusht") is None  # no kinematics: a box is refused
    home = fk(EMBODIMENT_JOINTS, np.array([reach.HOME]))
    assert np.allclose(home, [[0.307, 0.0, 0.487]], atol=2e-3)  # the standard Panda's ready pose
    task = reach.sample_task(scene, 21)
    rows = np.vstack([task.start, task.goal])
    ee = fk(EMBODIMENT_JOINTS, rows)
    assert ee.shape == (2, 3) and np.linalg.norm(ee[1] - task.target) < 0.005  # FK agrees with the IK's target
    # a subset of joints in another order: the rest stay at home
    partial = fk(["panda_joint4", "panda_joint2"], np.array([[reach.HOME[3] + 0.45, reach.HOME[1]]]))
    assert partial[0, 2] > 0.65
    with pytest.raises((KeyError, ValueError)):
        fk(["elbow"], np.zeros((1, 1)))
