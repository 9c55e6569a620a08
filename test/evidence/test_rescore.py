"""Counterfactual review: re-score a bag's recorded candidates with another score provider, without ROS."""

import json
import subprocess
import sys

import numpy as np

from worldforge_ros.evidence.rescore import rescore
from worldforge_ros.providers.reference import ReferenceScorer


def test_rescore_with_reference_scorer_matches_an_independent_computation(make_bag):
    bag = make_bag(scores=[5.0, 1.0, 3.0, 4.0, 2.0, 6.0, 7.0, 8.0])
    goal = np.full(7, 0.3)
    rows = rescore(bag.path, ReferenceScorer(goal.tolist()))
    assert len(rows) == 1
    row = rows[0]
    assert row["recorded_selected"] == 1 and row["error"] == ""
    finals = np.array([[p.positions for p in c.trajectory.points][-1] for c in bag.plan.candidates])
    expected = np.linalg.norm(finals - goal, axis=1)
    assert np.allclose(row["new_scores"], expected)
    assert row["new_selected"] == int(np.argmin(expected))
    assert row["agrees"] == (int(np.argmin(expected)) == 1)


def test_rescore_cli_json(make_bag):
    bag = make_bag()
    out = subprocess.run([sys.executable, "-m", "worldforge_ros.cli", "evidence", "rescore", str(bag.path),
                          "--score-provider", "reference_scorer", "--param", "goal_positions=[0,0,0,0,0,0,0]",
                          "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert len(rows[0]["new_scores"]) == len(bag.plan.candidates)


def test_rescore_refuses_a_policy_provider(make_bag):
    bag = make_bag()
    out = subprocess.run([sys.executable, "-m", "worldforge_ros.cli", "evidence", "rescore", str(bag.path),
                          "--score-provider", "reference"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "not a score provider" in out.stderr
