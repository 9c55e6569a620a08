"""The conformance helper passes conformant providers and names every broken rule of a non-conformant one."""

import dataclasses

import numpy as np

from worldforge_ros.core.contracts import ScoreResult
from worldforge_ros.core.observation import ObservationData
from worldforge_ros.providers.reference import ReferencePolicy, ReferenceScorer
from worldforge_ros.testing.conformance import check_policy_provider, check_score_provider

PANDA = tuple(f"panda_joint{i}" for i in range(1, 8))
HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])


def observation():
    return ObservationData(stamp_ns=1, task="reach", joint_names=PANDA, joint_positions=HOME.copy(),
                           extras={"goal_positions": HOME + 0.2})


def test_reference_policy_conforms_in_both_modes():
    policy = ReferencePolicy(horizon=16, seed=3)
    policy.configure()
    assert check_policy_provider(policy, observation(), num_candidates=8) == []
    assert check_policy_provider(policy, observation(), num_candidates=2, mode="select_action") == []


def test_reference_scorer_conforms():
    scorer = ReferenceScorer()
    scorer.configure()
    candidates = ReferencePolicy(horizon=16, seed=1).select_actions(observation(), 6).actions["action"]
    assert check_score_provider(scorer, observation(), candidates) == []


class NonConformingScorer(ReferenceScorer):
    """A provider breaking the score contract on purpose: wrong direction, NaN, a tensor in metadata."""

    def score_actions(self, observation, candidates):
        good = super().score_actions(observation, candidates)
        scores = good.scores.copy()
        worst = int(np.argmax(scores))
        scores[(worst + 1) % len(scores)] = np.nan
        return ScoreResult(self.profile.name, scores, best_index=worst, lower_is_better=True,
                           metadata={"raw": np.zeros(3)})


def test_broken_scorer_gets_every_problem_named():
    candidates = ReferencePolicy(horizon=16, seed=1).select_actions(observation(), 5).actions["action"]
    problems = check_score_provider(NonConformingScorer(), observation(), candidates)
    text = "\n".join(problems)
    assert "NaN/Inf" in text and "not strict JSON" in text


def test_direction_disagreement_is_reported():
    class Backwards(ReferenceScorer):
        def score_actions(self, observation, candidates):
            good = super().score_actions(observation, candidates)
            return dataclasses.replace(good, best_index=int(np.argmax(good.scores)))

    candidates = ReferencePolicy(horizon=16, seed=1).select_actions(observation(), 5).actions["action"]
    assert any("disagrees with lower_is_better" in p for p in check_score_provider(Backwards(), observation(),
                                                                                  candidates))


def test_nondeterminism_is_caught_when_claimed():
    class Drifting(ReferencePolicy):
        calls = 0

        def select_actions(self, observation, num_candidates=1, mode="predict_chunk"):
            Drifting.calls += 1
            result = super().select_actions(observation, num_candidates, mode)
            result.actions["action"] = result.actions["action"] + 1e-6 * Drifting.calls
            return result

    problems = check_policy_provider(Drifting(horizon=16), observation(), num_candidates=2)
    assert problems == ["deterministic provider returned different actions for the same input"]
