"""Selection: WorldForge's rule plus count/finiteness/direction checks, feasibility, pooling and tie-breaks."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from worldforge_ros.core.errors import ErrorCode, ProviderError, TranslatorError
from worldforge_ros.core.selection import (MODE_POLICY_ONLY, MODE_POLICY_SCORE, check_scores, pool_candidates,
                                           select_candidate)
from worldforge_ros.core.trajectory import StartState
from worldforge_ros.core.translators import JointSpaceTranslator

TRANSLATOR = JointSpaceTranslator("arm", ["a", "b"], 4, 0.1, limits={
    "position_min": [-1.0, -1.0], "position_max": [1.0, 1.0], "velocity_max": [5.0, 5.0]}, max_start_distance=0.2)
START = StartState(("a", "b"), [0.0, 0.0])


def chunks(ends):
    """One straight chunk per end point (a, b) from the start state."""
    k = np.arange(1, 5)[None, :, None] / 4.0
    return np.asarray(ends, dtype=float)[:, None, :] * k


def test_count_mismatch_is_a_contract_violation():
    with pytest.raises(ProviderError) as exc:
        check_scores([1.0, 2.0], 0, True, 3, "lewm")
    assert exc.value.code == ErrorCode.PROVIDER_CONTRACT_VIOLATION and "lewm" in str(exc.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_rejected(bad):
    with pytest.raises(ProviderError) as exc:
        check_scores([1.0, bad, 2.0], 0, True, 3)
    assert exc.value.code == ErrorCode.PROVIDER_CONTRACT_VIOLATION


@pytest.mark.parametrize("best", [-1, 3, 10, True, 1.0, None, "0"])
def test_best_index_out_of_range_or_not_an_int(best):
    with pytest.raises(ProviderError) as exc:
        check_scores([1.0, 2.0, 3.0], best, True, 3)
    assert exc.value.code == ErrorCode.PROVIDER_CONTRACT_VIOLATION


@pytest.mark.parametrize("lower_is_better, best", [(True, 2), (True, 1), (False, 0), (False, 1)])
def test_direction_disagreement_rejected(lower_is_better, best):
    scores = [0.1, 0.5, 0.9]  # argmin 0, argmax 2
    with pytest.raises(ProviderError) as exc:
        select_candidate([True] * 3, scores, best, lower_is_better, "scorer")
    assert exc.value.code == ErrorCode.SCORE_DIRECTION_MISMATCH
    assert exc.value.details["expected_index"] == (0 if lower_is_better else 2)


def test_direction_agreement_accepted_both_ways():
    assert select_candidate([True] * 3, [0.1, 0.5, 0.9], 0, True).selected_index == 0
    assert select_candidate([True] * 3, [0.1, 0.5, 0.9], 2, False).selected_index == 2


def test_infeasible_never_selected():
    sel = select_candidate([False, True, True], [0.1, 0.7, 0.3], 0, True)
    assert sel.selected_index == 2 and sel.provider_best_index == 0 and "infeasible" in sel.reason
    sel = select_candidate([True, True, False], [0.1, 0.7, 0.9], 2, False)
    assert sel.selected_index == 1


def test_no_feasible_candidate():
    with pytest.raises(TranslatorError) as exc:
        select_candidate([False, False], [0.1, 0.2], 0, True)
    assert exc.value.code == ErrorCode.NO_FEASIBLE_CANDIDATE
    with pytest.raises(TranslatorError) as exc:
        select_candidate([False, False])
    assert exc.value.code == ErrorCode.NO_FEASIBLE_CANDIDATE
    with pytest.raises(TranslatorError) as exc:
        select_candidate([], [], 0, True)
    assert exc.value.code == ErrorCode.NO_FEASIBLE_CANDIDATE


def test_scores_checked_before_feasibility():
    with pytest.raises(ProviderError) as exc:  # a lying scorer is reported even when nothing is feasible
        select_candidate([False, False], [0.1, 0.2], 1, True)
    assert exc.value.code == ErrorCode.SCORE_DIRECTION_MISMATCH


def test_tie_break_is_lowest_index():
    sel = select_candidate([True] * 4, [0.5, 0.2, 0.2, 0.2], 3, True)  # provider picked a tied later index
    assert sel.selected_index == 1 and sel.provider_best_index == 3 and "tie" in sel.reason
    assert select_candidate([False, True, True], [0.2, 0.2, 0.2], 0, False).selected_index == 1
    assert all(select_candidate([True] * 3, [1.0, 1.0, 1.0], b, True).selected_index == 0 for b in range(3))


def test_policy_only_mode_first_feasible():
    sel = select_candidate([False, False, True, True])
    assert sel.selected_index == 2 and sel.mode == MODE_POLICY_ONLY and sel.scores is None
    assert sel.selected_score is None
    with pytest.raises(ProviderError):
        select_candidate([True], [0.3], None, True)


def test_pooling_keeps_provenance_and_feeds_selection():
    a = TRANSLATOR.translate(chunks([[0.1, 0.0], [0.9, 0.9]]), START)  # 2nd: start distance 0.225 > 0.2
    b = TRANSLATOR.translate(chunks([[0.0, 0.1], [0.2, 0.2], [0.05, 0.05]]), START)
    pooled = pool_candidates([("lerobot", a), ("gr00t", b)])
    assert [(p.index, p.policy_provider, p.policy_candidate_index) for p in pooled] == [
        (0, "lerobot", 0), (1, "lerobot", 1), (2, "gr00t", 0), (3, "gr00t", 1), (4, "gr00t", 2)]
    assert [p.feasible for p in pooled] == [True, False, True, True, True]
    assert pooled[1].candidate.violations == ("start_distance:a", "start_distance:b")
    # distance of the final point to a goal at (0.9, 0.9): the infeasible candidate 1 would win.
    goal = np.array([0.9, 0.9])
    scores = [float(np.linalg.norm(p.candidate.trajectory.positions[-1] - goal)) for p in pooled]
    sel = select_candidate([p.feasible for p in pooled], scores, int(np.argmin(scores)), True, "ref")
    assert sel.mode == MODE_POLICY_SCORE
    assert sel.selected_index == 3 and pooled[sel.selected_index].policy_provider == "gr00t"
    assert sel.to_dict()["provider_best_index"] == 1


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5).map(float), st.booleans()), min_size=1, max_size=12), st.booleans())
def test_property_selection_is_best_feasible_lowest_index(rows, lower_is_better):
    scores = [s for s, _ in rows]
    feasible = [f for _, f in rows]
    best = int(np.argmin(scores) if lower_is_better else np.argmax(scores))
    if not any(feasible):
        with pytest.raises(TranslatorError):
            select_candidate(feasible, scores, best, lower_is_better)
        return
    sel = select_candidate(feasible, scores, best, lower_is_better)
    assert feasible[sel.selected_index]
    feasible_scores = [s for s, f in rows if f]
    target = min(feasible_scores) if lower_is_better else max(feasible_scores)
    assert scores[sel.selected_index] == target
    assert sel.selected_index == min(i for i, (s, f) in enumerate(rows) if f and s == target)
    wrong = [i for i, s in enumerate(scores) if s != scores[best]]
    if wrong:
        with pytest.raises(ProviderError) as exc:
            select_candidate(feasible, scores, wrong[0], lower_is_better)
        assert exc.value.code == ErrorCode.SCORE_DIRECTION_MISMATCH
