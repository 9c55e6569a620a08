"""worldforge-ros train-reach: demonstrations generated in the MuJoCo scene train a real LeRobot Diffusion policy
and a real LeWM cost model (a tiny recipe here), saved where the lerobot_lewm profile and the providers load them;
the evaluation plans through PlanningCore and executes with physics."""

import json

import numpy as np
import pytest

TINY = dict(policy_demos=256, policy_steps=400, cost_model_tasks=4, cost_model_variants=1, cost_model_steps=12,
            cost_model_size="tiny", seed=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from worldforge_ros.training.reach_models import Recipe, train_reach_models

    root = tmp_path_factory.mktemp("trained")
    lines = []
    manifest = train_reach_models(root, Recipe(**TINY), log=lines.append)
    return root, manifest, lines


def test_models_are_written_labelled_and_learn(trained):
    from worldforge_ros.training.reach_models import LEWM_CHECKPOINT, MANIFEST, POLICY_DIR

    root, manifest, lines = trained
    assert (root / POLICY_DIR / "model.safetensors").is_file()
    assert (root / POLICY_DIR / "policy_preprocessor.json").is_file()
    assert (root / LEWM_CHECKPOINT).is_file()
    assert "TRAINED HERE, ON SIMULATED DATA" in (root / "TRAINED_HERE.txt").read_text()
    assert json.loads((root / MANIFEST).read_text())["recipe_digest"] == manifest["recipe_digest"]
    policy_loss = [loss for _step, loss in manifest["policy_loss"]]
    assert policy_loss[-1] < policy_loss[0]  # the diffusion loss falls from its untrained value
    probe = [p for _step, _pred, p in manifest["cost_model_loss"]]
    assert probe[-1] < probe[0]  # the embedding learns the arm's configuration
    assert any("rendered task 4/4" in line for line in lines)


def test_the_same_recipe_is_cached_and_another_retrains(trained, tmp_path):
    from worldforge_ros.training.reach_models import Recipe, trained as cached

    root, manifest, _ = trained
    assert cached(root, Recipe(**TINY))["recipe_digest"] == manifest["recipe_digest"]
    assert cached(root, Recipe(**{**TINY, "policy_steps": 61})) is None
    assert cached(tmp_path, Recipe(**TINY)) is None


def test_providers_load_the_models_and_a_reach_is_planned_and_executed(trained):
    from worldforge_ros.providers.lerobot import make_lerobot_policy
    from worldforge_ros.providers.leworldmodel import make_leworldmodel_scorer
    from worldforge_ros.scene.scene import Scene
    from worldforge_ros.training.evaluate import ARMS, evaluate_reach, plan_reach
    from worldforge_ros.training.reach_data import EVAL_SEED_BASE
    from worldforge_ros.training.reach_models import LEWM_RUN, POLICY_DIR
    from worldforge_ros.scene.reach import sample_task

    root, _, _ = trained
    policy = make_lerobot_policy({"policy_path": str(root / POLICY_DIR)})
    scorer = make_leworldmodel_scorer({"policy": LEWM_RUN, "cache_dir": str(root / "stablewm" / "checkpoints"),
                                       "trusted_roots": [str(root / "stablewm")]})
    scene = Scene()
    try:
        policy.configure()
        scorer.configure()
        plan, (frame, goal_frame) = plan_reach(scene, sample_task(scene, EVAL_SEED_BASE), policy, scorer, 4)
        assert len(plan.candidates) == 4 and plan.score_provider == "leworldmodel"
        scores = [c.score for c in plan.candidates]
        feasible = [i for i, c in enumerate(plan.candidates) if c.feasible]
        assert plan.selected_index == min(feasible, key=lambda i: scores[i])  # lower is better, among feasible
        assert frame.shape == goal_frame.shape and not np.array_equal(frame, goal_frame)
        result = evaluate_reach(scene, policy, scorer, seeds=2, candidates=4)
    finally:
        scene.close()
    assert result.seeds == [EVAL_SEED_BASE, EVAL_SEED_BASE + 1]
    for arm in ARMS:
        assert len(result.errors[arm]) == 2 and all(np.isfinite(result.errors[arm]))
        assert 0.0 <= result.success_rate(arm) <= 1.0
