"""Embodiment translators: the contract fails loudly, trajectories are timed and consistent, violations are named."""

import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from worldforge_ros.core.digests import tensor_digest
from worldforge_ros.core.errors import ErrorCode, RequestError, TranslatorError
from worldforge_ros.core.feasibility import JointLimits, feasibility_violations
from worldforge_ros.core.trajectory import StartState, TrajectoryData
from worldforge_ros.core.translator_registry import ENTRY_POINT_GROUP, TranslatorRegistry
from worldforge_ros.core.translators import (EmbodimentContract, JointSpaceTranslator, PushTPlanarTranslator,
                                             velocities_from_positions)

PANDA = tuple(f"panda_joint{i}" for i in range(1, 8))
HOME = np.array([0.0, -0.3, 0.0, -2.0, 0.0, 1.8, 0.8])


@pytest.fixture(scope="module")
def registry():
    return TranslatorRegistry.from_config()


@pytest.fixture(scope="module")
def panda(registry):
    return registry.get("panda_7dof")


def start_at(positions=HOME, names=PANDA):
    return StartState(names, np.asarray(positions, dtype=float))


def reach(n=3, horizon=16, step=0.01):
    """n chunks moving every joint by ``step`` per point from HOME (well inside every Panda limit)."""
    k = np.arange(1, horizon + 1)[None, :, None]
    return np.repeat(HOME[None, None, :] + step * k, n, axis=0)


def code_of(excinfo):
    return excinfo.value.code


# ---- contract: each mismatch its own typed error, never padded or projected ----------------------------------
def test_valid_chunks_translate_feasibly(panda):
    out = panda.translate(reach(), start_at())
    assert len(out) == 3
    for cand in out:
        assert cand.feasible and cand.violations == ()
        traj = cand.trajectory
        assert traj.joint_names == PANDA
        assert traj.positions.shape == (16, 7) and traj.velocities.shape == (16, 7)
        np.testing.assert_allclose(traj.times_s, 0.1 * np.arange(1, 17))
        traj.validate()


@pytest.mark.parametrize("shape, code", [
    ((2, 16, 6), ErrorCode.ACTION_DIM_MISMATCH),
    ((2, 16, 8), ErrorCode.ACTION_DIM_MISMATCH),
    ((2, 15, 7), ErrorCode.HORIZON_MISMATCH),
    ((2, 17, 7), ErrorCode.HORIZON_MISMATCH),
    ((16, 7), ErrorCode.TRANSLATOR_CONTRACT_VIOLATION),
    ((1, 2, 16, 7), ErrorCode.TRANSLATOR_CONTRACT_VIOLATION),
    ((0, 16, 7), ErrorCode.TRANSLATOR_CONTRACT_VIOLATION),
])
def test_shape_mismatches_have_their_own_codes(panda, shape, code):
    with pytest.raises(TranslatorError) as exc:
        panda.translate(np.zeros(shape), start_at())
    assert code_of(exc) == code


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_actions_rejected(panda, bad):
    raw = reach()
    raw[1, 4, 2] = bad
    with pytest.raises(TranslatorError) as exc:
        panda.translate(raw, start_at())
    assert code_of(exc) == ErrorCode.NON_FINITE_ACTION
    assert exc.value.details["index"] == [1, 4, 2]


def test_overflowing_magnitudes_are_non_finite(registry):
    delta = registry.get("panda_7dof_delta")
    raw = np.full((1, 16, 7), 1e308)
    with pytest.raises(TranslatorError) as exc:
        delta.translate(raw, start_at())
    assert code_of(exc) == ErrorCode.NON_FINITE_ACTION


@pytest.mark.parametrize("raw", [
    [[[0.0] * 7] * 16, [[0.0] * 7] * 15],  # ragged
    np.full((1, 16, 7), "0.1"),
    np.zeros((1, 16, 7), dtype=bool),
    np.zeros((1, 16, 7), dtype=complex),
    np.zeros((1, 16, 7), dtype=object),
])
def test_non_rectangular_or_non_numeric_rejected(panda, raw):
    with pytest.raises(TranslatorError) as exc:
        panda.translate(raw, start_at())
    assert code_of(exc) == ErrorCode.TRANSLATOR_CONTRACT_VIOLATION


def test_embodiment_tag_mismatch(panda):
    with pytest.raises(TranslatorError) as exc:
        panda.translate(reach(), start_at(), embodiment_tag="so100_6dof")
    assert code_of(exc) == ErrorCode.EMBODIMENT_MISMATCH
    assert panda.translate(reach(), start_at(), embodiment_tag="panda_7dof")[0].feasible


def test_unknown_embodiment_is_a_request_error(registry):
    with pytest.raises(RequestError) as exc:
        registry.get("atlas_28dof")
    assert code_of(exc) == ErrorCode.UNKNOWN_EMBODIMENT


def test_contract_summary_fields(panda):
    summary = panda.contract_summary([3, 16, 7])
    assert {k: summary[k] for k in ("embodiment_tag", "action_dim", "action_horizon", "raw_action_shape")} == {
        "embodiment_tag": "panda_7dof", "action_dim": 7, "action_horizon": 16, "raw_action_shape": [3, 16, 7]}
    assert summary["metadata"]["semantics"] == "absolute"
    assert summary["limits"]["position_max"][3] == pytest.approx(-0.0698)


def test_contract_rejects_bad_definitions():
    with pytest.raises(TranslatorError):
        EmbodimentContract("", 7, 16)
    with pytest.raises(TranslatorError):
        EmbodimentContract("x", 0, 16)
    with pytest.raises(TranslatorError):
        EmbodimentContract("x", 7, True)


# ---- trajectory timing and velocities ---------------------------------------------------------------------------
def test_velocities_consistent_with_positions(panda):
    raw = reach(1)
    raw[0] += 0.05 * np.sin(np.arange(16))[:, None]  # not a straight line
    traj = panda.translate(raw, start_at())[0].trajectory
    p, v, dt = traj.positions, traj.velocities, 0.1
    np.testing.assert_allclose(v[1:-1], (p[2:] - p[:-2]) / (2 * dt))
    np.testing.assert_allclose(v[0], (p[1] - HOME) / (2 * dt))  # start state is the point before at t=0
    assert np.all(v[-1] == 0.0)


def test_forward_difference_without_start_state():
    t = JointSpaceTranslator("arm", ["a", "b"], 4, 0.5)
    traj = t.translate(np.array([[[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]]))[0].trajectory
    np.testing.assert_allclose(traj.velocities, [[2.0, 4.0], [2.0, 4.0], [2.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(traj.times_s, [0.5, 1.0, 1.5, 2.0])


def test_single_point_trajectory_stops():
    assert np.all(velocities_from_positions(np.array([[1.0, 2.0]]), 0.1) == 0.0)


def test_max_steps_truncates_after_the_contract_check(panda):
    full = panda.translate(reach(2), start_at())
    cut = panda.translate(reach(2), start_at(), max_steps=5)
    for f, c in zip(full, cut):
        assert c.trajectory.num_points == 5 and np.all(c.trajectory.velocities[-1] == 0.0)
        np.testing.assert_array_equal(c.trajectory.positions, f.trajectory.positions[:5])
        np.testing.assert_array_equal(c.trajectory.velocities[:4], f.trajectory.velocities[:4])
        assert c.trajectory == f.trajectory.truncated(5)
        assert c.raw_shape == (16, 7)  # the raw chunk checked whole, never cut before the contract
    with pytest.raises(TranslatorError) as exc:
        panda.translate(reach(2, horizon=5), start_at(), max_steps=5)
    assert code_of(exc) == ErrorCode.HORIZON_MISMATCH
    with pytest.raises(RequestError):
        panda.translate(reach(2), start_at(), max_steps=-1)


def test_raw_digest_and_shape_per_candidate(panda):
    raw = reach(2).astype(np.float32)
    raw[1, 0, 0] += 0.001
    out = panda.translate(raw, start_at())
    assert [c.raw_shape for c in out] == [(16, 7), (16, 7)]
    assert out[0].raw_digest == tensor_digest(raw[0]) and out[1].raw_digest == tensor_digest(raw[1])
    assert out[0].raw_digest != out[1].raw_digest
    assert out[0].raw_digest != tensor_digest(raw[0].astype(np.float64))  # dtype is part of the digest


# ---- semantics -------------------------------------------------------------------------------------------------
def test_delta_and_relative_semantics(registry):
    steps = np.full((1, 16, 7), 0.01)
    traj = registry.get("panda_7dof_delta").translate(steps, start_at())[0].trajectory
    np.testing.assert_allclose(traj.positions, HOME + 0.01 * np.arange(1, 17)[:, None])
    rel = JointSpaceTranslator("rel", PANDA, 16, 0.1, "relative")
    traj = rel.translate(steps, start_at())[0].trajectory
    np.testing.assert_allclose(traj.positions, np.repeat((HOME + 0.01)[None], 16, axis=0))


def test_start_state_required_where_needed(registry, panda):
    with pytest.raises(RequestError) as exc:
        registry.get("panda_7dof_delta").translate(np.zeros((1, 16, 7)))
    assert code_of(exc) == ErrorCode.OBSERVATION_MISSING
    with pytest.raises(RequestError) as exc:  # panda_7dof bounds the start distance: needs a start state
        panda.translate(reach())
    assert code_of(exc) == ErrorCode.OBSERVATION_MISSING
    with pytest.raises(RequestError) as exc:
        panda.translate(reach(), start_at(HOME[:6], PANDA[:6]))
    assert code_of(exc) == ErrorCode.JOINT_NAMES_MISMATCH


def test_start_state_is_reordered_by_name(panda):
    order = [6, 0, 5, 1, 4, 2, 3]
    shuffled = StartState(tuple(PANDA[i] for i in order), HOME[order])
    a = panda.translate(reach(1), start_at())[0]
    b = panda.translate(reach(1), shuffled)[0]
    assert a.trajectory == b.trajectory and b.feasible


# ---- feasibility: named violations ------------------------------------------------------------------------------
def test_position_limit_violation_is_named(panda):
    raw = reach(2)
    raw[1, 7, 2] = 2.95  # panda_joint3 max is 2.8973
    out = panda.translate(raw, start_at())
    assert out[0].feasible
    assert not out[1].feasible
    assert "position_limit:panda_joint3:step7" in out[1].violations


def test_margin_shrinks_the_allowed_range():
    limits = {"position_min": [-1.0], "position_max": [1.0], "velocity_max": [100.0]}
    raw = np.array([[[0.0], [0.5], [0.95], [0.95]]])
    tight = JointSpaceTranslator("one", ["j"], 4, 0.1, limits=limits, margin=0.05)  # allowed [-0.9, 0.9]
    loose = JointSpaceTranslator("one", ["j"], 4, 0.1, limits=limits, margin=0.0)
    assert tight.translate(raw)[0].violations == ("position_limit:j:step2",)
    assert loose.translate(raw)[0].feasible


def test_velocity_limit_violation_is_named(panda):
    raw = reach(1)
    raw[0, 9:, 0] += 0.4  # a 0.4 rad jump in 0.1 s on panda_joint1 (max 2.175 rad/s)
    cand = panda.translate(raw, start_at())[0]
    assert not cand.feasible
    assert any(v.startswith("velocity_limit:panda_joint1:step") for v in cand.violations)
    assert all(not v.startswith("position_limit") for v in cand.violations)


def test_start_distance_violation_is_named(panda):
    far = HOME.copy()
    far[0] += 0.5  # beyond max_start_distance 0.1
    out = panda.translate(reach(1), start_at(far))
    assert "start_distance:panda_joint1" in out[0].violations
    assert not out[0].feasible


def test_non_monotonic_time_and_nonzero_final_velocity():
    pos = np.zeros((3, 2))
    bad_time = TrajectoryData(("a", "b"), pos, np.zeros((3, 2)), [0.1, 0.3, 0.2])
    with pytest.raises(TranslatorError) as exc:
        bad_time.validate()
    assert code_of(exc) == ErrorCode.NON_MONOTONIC_TIME and exc.value.details["step"] == 2
    with pytest.raises(TranslatorError) as exc:
        TrajectoryData(("a", "b"), pos, np.zeros((3, 2)), [0.0, 0.1, 0.2]).validate()
    assert code_of(exc) == ErrorCode.NON_MONOTONIC_TIME
    moving = np.zeros((3, 2))
    moving[-1, 1] = 0.2
    with pytest.raises(TranslatorError) as exc:
        TrajectoryData(("a", "b"), pos, moving, [0.1, 0.2, 0.3]).validate()
    assert code_of(exc) == ErrorCode.NONZERO_FINAL_VELOCITY
    limits = JointLimits(("a", "b"), -1.0, 1.0, 1.0)
    assert "time_not_increasing:step2" in feasibility_violations(bad_time, limits)
    assert feasibility_violations(TrajectoryData(("a", "b"), pos, moving, [0.1, 0.2, 0.3]), limits) == [
        "nonzero_final_velocity:b"]
    nan = TrajectoryData(("a", "b"), [[np.nan, 0.0]], [[0.0, 0.0]], [0.1])
    assert feasibility_violations(nan, limits) == ["non_finite"]
    with pytest.raises(TranslatorError) as exc:
        nan.validate()
    assert code_of(exc) == ErrorCode.NON_FINITE_ACTION


def test_trajectory_structure_checked_at_construction():
    with pytest.raises(TranslatorError):
        TrajectoryData(("a",), np.zeros((3, 2)), np.zeros((3, 2)), [0.1, 0.2, 0.3])
    with pytest.raises(TranslatorError):
        TrajectoryData(("a", "a"), np.zeros((3, 2)), np.zeros((3, 2)), [0.1, 0.2, 0.3])
    with pytest.raises(TranslatorError):
        TrajectoryData(("a", "b"), np.zeros((3, 2)), np.zeros((2, 2)), [0.1, 0.2, 0.3])
    t = TrajectoryData(("a", "b"), np.ones((2, 2)), np.zeros((2, 2)), [0.1, 0.2])
    assert TrajectoryData.from_dict(t.to_dict()) == t
    assert not t.positions.flags.writeable


# ---- PushT ------------------------------------------------------------------------------------------------------
def test_pusht_pixels_to_metres(registry):
    pusht = registry.get("pusht_planar")
    assert isinstance(pusht, PushTPlanarTranslator)
    px = np.stack([np.linspace(260, 300, 10), np.linspace(250, 240, 10)], axis=-1)[None]
    start = StartState(("pusht_x", "pusht_y"), [0.256, 0.25])
    cand = pusht.translate(px, start)[0]
    assert cand.feasible, cand.violations
    np.testing.assert_allclose(cand.trajectory.positions, px[0] * 0.001)
    assert cand.trajectory.joint_names == ("pusht_x", "pusht_y")
    off = px.copy()
    off[0, 6:, 0] = 560.0  # off the 512 px table
    bad = pusht.translate(off, start)[0]
    assert "position_limit:pusht_x:step6" in bad.violations
    with pytest.raises(TranslatorError) as exc:
        pusht.translate(np.zeros((1, 10, 3)), start)
    assert code_of(exc) == ErrorCode.ACTION_DIM_MISMATCH
    assert pusht.contract_summary()["metadata"]["scale_m_per_px"] == 0.001


# ---- registry and plug-ins --------------------------------------------------------------------------------------
def test_registry_from_dict_and_bad_entries():
    reg = TranslatorRegistry.from_config({"embodiments": {"arm": {
        "type": "joint_space", "joint_names": ["a", "b"], "horizon": 4, "dt": 0.05}}})
    assert reg.names() == ["arm"] and reg.get("arm") is reg.get("arm")
    bad = ErrorCode.TRANSLATOR_CONTRACT_VIOLATION
    for spec, code in [
        ({"type": "joint_space", "joint_names": ["a", "b"], "action_dim": 3, "horizon": 4, "dt": 0.1},
         ErrorCode.TRANSLATOR_CONTRACT_VIOLATION),
        ({"type": "joint_space", "joint_names": ["a"], "horizon": 0, "dt": 0.1}, bad),
        ({"type": "joint_space", "joint_names": ["a"], "horizon": 4, "dt": -1}, bad),
        ({"type": "joint_space", "joint_names": ["a"], "horizon": 4, "dt": 0.1, "semantics": "velocity"},
         ErrorCode.TRANSLATOR_CONTRACT_VIOLATION),
        ({"type": "joint_space", "joint_names": ["a"], "horizon": 4, "dt": 0.1, "margin": 0.6},
         ErrorCode.TRANSLATOR_CONTRACT_VIOLATION),
        ({"type": "joint_space", "joint_names": ["a"], "horizon": 4, "dt": 0.1,
          "limits": {"position_min": [1.0], "position_max": [0.0], "velocity_max": [1.0]}},
         ErrorCode.TRANSLATOR_CONTRACT_VIOLATION),
        ({"joint_names": ["a"]}, ErrorCode.TRANSLATOR_CONTRACT_VIOLATION),
    ]:
        with pytest.raises(TranslatorError) as exc:
            TranslatorRegistry.from_config({"x": spec})
        assert code_of(exc) == code, spec


def test_missing_plugin_fails_lazily_with_translator_missing():
    reg = TranslatorRegistry.from_config({"lab_arm": {"type": "no_such_plugin_type", "horizon": 4}})
    with pytest.raises(TranslatorError) as exc:
        reg.get("lab_arm")
    assert code_of(exc) == ErrorCode.TRANSLATOR_MISSING


def test_entry_point_plugin_is_discovered_and_loaded_lazily(tmp_path, monkeypatch):
    module = "wfr_lab_translator_plugin"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent("""
        from worldforge_ros.core.translators import JointSpaceTranslator

        def make(name, spec):
            return JointSpaceTranslator(name, spec["joint_names"], spec["horizon"], spec["dt"], "relative")
    """))
    dist = tmp_path / "wfr_lab_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: wfr-lab-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nlab_gantry = {module}:make\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    reg = TranslatorRegistry.from_config({"gantry": {"type": "lab_gantry", "joint_names": ["x", "y"],
                                                     "horizon": 3, "dt": 0.2}})
    assert module not in sys.modules  # not loaded until first use
    translator = reg.get("gantry")
    assert module in sys.modules
    out = translator.translate(np.ones((1, 3, 2)), StartState(("x", "y"), [1.0, 2.0]))
    np.testing.assert_allclose(out[0].trajectory.positions, [[2.0, 3.0]] * 3)
    assert reg.contract_summaries()["gantry"]["metadata"]["semantics"] == "relative"


# ---- properties -------------------------------------------------------------------------------------------------
LIMITS = {"position_min": [-2.0, -1.0, 0.0], "position_max": [2.0, 1.0, 3.0], "velocity_max": [1e6, 1e6, 1e6]}
PROP = JointSpaceTranslator("prop", ["a", "b", "c"], 6, 0.02, limits=LIMITS)
IN_LIMITS = st.tuples(st.floats(-2.0, 2.0), st.floats(-1.0, 1.0), st.floats(0.0, 3.0))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(IN_LIMITS, min_size=6, max_size=6), min_size=1, max_size=4), st.integers(0, 6))
def test_property_translated_trajectories_are_timed_and_stop(chunks, max_steps):
    raw = np.array(chunks, dtype=np.float64)
    for cand in PROP.translate(raw, max_steps=max_steps):
        traj = cand.trajectory
        assert traj.times_s[0] > 0 and np.all(np.diff(traj.times_s) > 0)
        assert np.all(traj.velocities[-1] == 0.0)
        if traj.num_points >= 3:
            np.testing.assert_allclose(traj.velocities[1:-1], (traj.positions[2:] - traj.positions[:-2]) / 0.04)
        assert cand.feasible, cand.violations
        traj.validate()


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 5)),
                  elements=st.floats(-1, 1)))
def test_property_contract_never_pads_or_projects(raw):
    n, h, d = raw.shape
    if (h, d) == (6, 3):
        assert len(PROP.translate(raw)) == n
        return
    with pytest.raises(TranslatorError) as exc:
        PROP.translate(raw)
    assert code_of(exc) == (ErrorCode.ACTION_DIM_MISMATCH if d != 3 else ErrorCode.HORIZON_MISMATCH)


# ---- the batch equals one candidate at a time -------------------------------------------------------------------
def one_at_a_time(translator, raw, start=None, max_steps=0):
    """What translating each candidate alone gives (the per-candidate path the batch replaced)."""
    checked = translator.check(raw, start, max_steps=max_steps)
    steps, start_pos = checked.steps, checked.start_positions
    times = translator.dt * np.arange(1, steps + 1)
    out = []
    for i, chunk in enumerate(checked.raw[:, :steps].astype(np.float64)):
        positions = translator.targets(chunk, start_pos)
        traj = TrajectoryData(translator.joint_names, positions,
                              velocities_from_positions(positions, translator.dt, start_pos), times)
        bad = feasibility_violations(traj, translator.limits, translator.margin, start_pos,
                                     translator.max_start_distance) if translator.limits is not None else []
        out.append((traj, tuple(bad), tensor_digest(checked.raw[i])))
    return out


BATCH_LIMITS = {"position_min": [-1.0, -0.5, 0.0], "position_max": [1.0, 0.5, 2.0], "velocity_max": [3.0, 2.0, 5.0]}


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.just(4), st.just(3)), elements=st.floats(-1.2, 2.2)),
       st.sampled_from(["absolute", "delta", "relative"]), st.sampled_from([0.0, 0.1]),
       st.sampled_from([None, 0.3]), st.integers(0, 4), st.booleans())
def test_property_batch_translation_equals_one_candidate_at_a_time(raw, semantics, margin, max_start, max_steps,
                                                                    limited):
    translator = JointSpaceTranslator("batch", ["a", "b", "c"], 4, 0.25, semantics,
                                      BATCH_LIMITS if limited else None, margin if limited else 0.0, max_start)
    start = StartState(("c", "a", "b"), [0.5, 0.1, -0.2])
    got = translator.translate(raw, start, max_steps=max_steps)
    want = one_at_a_time(translator, raw, start, max_steps)
    assert len(got) == len(want)
    for cand, (traj, bad, digest) in zip(got, want):
        assert cand.trajectory == traj and cand.trajectory.to_json() == traj.to_json()
        assert cand.violations == bad and cand.feasible == (not bad)
        assert cand.raw_digest == digest and cand.raw_shape == raw.shape[1:]
        assert not cand.trajectory.positions.flags.writeable and not cand.trajectory.velocities.flags.writeable


def test_a_subclass_whose_targets_take_one_chunk_still_translates_batches():
    class FirstJointOnly(JointSpaceTranslator):
        def targets(self, chunk, start):
            assert chunk.ndim == 2, "called with one chunk at a time"
            out = np.zeros_like(chunk)
            out[:, 0] = chunk[:, 0]
            return out

    translator = FirstJointOnly("first", ["a", "b"], 3, 0.1)
    raw = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    got = translator.translate(raw)
    np.testing.assert_array_equal(got[1].trajectory.positions, [[6.0, 0.0], [8.0, 0.0], [10.0, 0.0]])


def test_first_non_finite_candidate_is_named_in_a_batch():
    translator = JointSpaceTranslator("arm", ["a"], 2, 0.1, "delta")
    raw = np.array([[[1.0], [1.0]], [[1e308], [1e308]], [[1e308], [1e308]]])
    with pytest.raises(TranslatorError) as exc:
        translator.translate(raw, StartState(("a",), [0.0]))
    assert code_of(exc) == ErrorCode.NON_FINITE_ACTION and exc.value.details.get("candidate") == 1
