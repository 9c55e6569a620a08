"""GR00T policy client against the local ZeroMQ test peer, for every wire generation.

Real sockets on 127.0.0.1; the peer (``worldforge_ros.testing.gr00t_peer``) has its own codec.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import zmq

from worldforge_ros.bridges.gr00t_observation import Gr00tObservationBridge
from worldforge_ros.core.contracts import PolicyProvider
from worldforge_ros.core.errors import ErrorCode, ProviderError, RequestError
from worldforge_ros.core.observation import ObservationData
from worldforge_ros.providers.gr00t import Gr00tPolicy
from worldforge_ros.testing.gr00t_peer import Gr00tTestPeer, sample_observation

GENERATIONS = ("n1.5", "n1.6", "n1.7")
JOINTS = tuple(f"joint_{i}" for i in range(7))
ORDER = ("joint_position", "gripper_position")
TOKEN = "tok-7c1e-do-not-leak"


@pytest.fixture(params=GENERATIONS)
def generation(request):
    return request.param


@pytest.fixture
def peer(generation):
    with Gr00tTestPeer(generation=generation, max_requests=200, seed=3) as p:
        yield p


def make_policy(peer, events=None, bridge=None, **values):
    values.setdefault("timeout_ms", 3000)
    values.setdefault("action_keys", ORDER)
    bridge = bridge or Gr00tObservationBridge(peer.generation, cameras={"front": "front"},
                                              state_joints={"arm": JOINTS})
    sink = events.append if events is not None else None
    return Gr00tPolicy(host=peer.host, port=peer.port, generation=peer.generation, env={}, bridge=bridge,
                       event_sink=sink, **values)


def small_obs(**kw):
    kw.setdefault("height", 32)
    kw.setdefault("width", 40)
    return sample_observation(**kw)


def test_is_a_policy_provider(peer):
    policy = make_policy(peer)
    assert isinstance(policy, PolicyProvider)
    assert policy.profile.has("policy") and not policy.profile.has("score")
    policy.close()


def test_ping_modality_config_and_reset(peer, generation):
    policy = make_policy(peer)
    policy.configure()
    assert policy.ping() == {"status": "ok", "message": "Server is running"}
    modality = policy.get_modality_config()
    assert set(modality) == {"video", "state", "action", "language"}
    assert len(modality["action"].delta_indices) == 16
    served = peer.served
    reply = policy.reset({"episode": 1})
    if generation == "n1.5":
        assert reply == {"reset": "not_supported_by_generation"} and peer.served == served
        with pytest.raises(ProviderError, match="Unknown endpoint: reset") as err:
            policy.transport.call("reset", {"options": None})  # the raw endpoint really is absent on n1.5
        assert err.value.code == ErrorCode.PROVIDER_RUNTIME_ERROR
    else:
        assert reply == {"reset": True, "options_seen": True} and peer.reset_count == 1
        assert peer.requests[-1].data == {"options": {"episode": 1}}
    assert [r.endpoint for r in peer.requests[:3]] == ["ping", "ping", "get_modality_config"]
    assert peer.requests[0].raw_keys == ("endpoint",)  # ping carries no data and no token
    policy.close()


def test_get_action_candidates_and_wire_forms(peer, generation):
    policy = make_policy(peer)
    result = policy.select_actions(small_obs(), num_candidates=3, mode="predict_chunk")
    raw_joint, raw_grip = result.actions["action.joint_position"], result.actions["action.gripper_position"]
    assert raw_joint.shape == (3, 16, 7) and raw_grip.shape == (3, 16, 1)
    main = result.actions["action"]
    assert main.shape == (3, 16, 8) and main.dtype == np.float32
    np.testing.assert_array_equal(main, np.concatenate([raw_joint, raw_grip], axis=-1))
    assert not np.allclose(main[0], main[1])  # the peer samples like a stochastic policy
    meta = result.metadata
    assert meta["action_key_order"] == list(ORDER) and meta["action_key_order_source"] == "configured"
    assert meta["generation"] == generation and meta["candidate_count"] == 3
    actions = [r for r in peer.requests if r.endpoint == "get_action"]
    if generation == "n1.5":
        assert meta["candidate_strategy"] == "repeated_calls" and len(actions) == 3
        flat = actions[0].data
        assert flat["video.front"].shape == (1, 32, 40, 3) and flat["video.front"].dtype == np.uint8
        assert flat["state.arm"].shape == (1, 7) and flat["state.arm"].dtype == np.float32
        assert flat["annotation.human.action.task_description"] == ["pick up the cube"]
    else:
        assert meta["candidate_strategy"] == "batched_observation" and len(actions) == 1
        data = actions[0].data
        assert set(data) == {"observation"}  # options omitted when None
        obs = data["observation"]
        assert obs["video"]["front"].shape == (3, 1, 32, 40, 3)
        assert obs["state"]["arm"].shape == (3, 1, 7) and obs["state"]["arm"].dtype == np.float32
        assert obs["language"] == {"task": [["pick up the cube"]] * 3}
    policy.close()


def test_select_action_mode_and_key_order(peer):
    policy = make_policy(peer, action_keys=("gripper_position", "action.joint_position"))
    result = policy.select_actions(small_obs(), num_candidates=2, mode="select_action")
    assert result.actions["action"].shape == (2, 1, 8)
    np.testing.assert_array_equal(result.actions["action"][:, 0, 0], result.actions["action.gripper_position"][:, 0, 0])
    unordered = make_policy(peer, action_keys=())
    meta = unordered.select_actions(small_obs(), 1, "predict_chunk").metadata
    assert meta["action_key_order"] == ["gripper_position", "joint_position"]
    assert meta["action_key_order_source"] == "sorted_reply_keys"
    missing = make_policy(peer, action_keys=("joint_position", "base_velocity"))
    with pytest.raises(ProviderError, match="base_velocity") as err:
        missing.select_actions(small_obs(), 1, "predict_chunk")
    assert err.value.code == ErrorCode.PROVIDER_CONTRACT_VIOLATION
    for p in (policy, unordered, missing):
        p.close()


def test_kill_endpoint_stops_the_peer(peer):
    policy = make_policy(peer)
    assert policy.transport.call("kill", with_data=False) is None
    peer._thread.join(timeout=5)
    assert peer.killed and not peer._thread.is_alive()
    policy.close()


def test_client_side_dtype_and_shape_checks(peer, generation):
    policy = make_policy(peer)
    served = peer.served
    if generation == "n1.5":
        bad_inputs = [
            {"video.front": np.zeros((1, 8, 8, 3), np.float32)},
            {"video.front": np.zeros((8, 8, 3), np.uint8)},
            {"state.arm": np.zeros((7,), np.float32)},
            {"annotation.human.action.task_description": ["only language"]},
        ]
    else:
        ok_video = np.zeros((1, 1, 8, 8, 3), np.uint8)
        bad_inputs = [
            {"video": {"front": np.zeros((1, 1, 8, 8, 3), np.float32)}},
            {"video": {"front": np.zeros((1, 8, 8, 3), np.uint8)}},
            {"state": {"arm": np.zeros((1, 1, 7), np.float64)}},
            {"video": {"front": ok_video}, "language": {"task": ["not nested"]}},
            {"video": {"front": ok_video}, "state": {"arm": np.zeros((2, 1, 7), np.float32)}},
            {"video.front": ok_video},
            {"state": {"arm": np.full((1, 1, 7), np.nan, np.float32)}},
        ]
    for observation in bad_inputs:
        with pytest.raises(RequestError) as err:
            policy.get_action(observation)
        assert err.value.code in (ErrorCode.OBSERVATION_INVALID, ErrorCode.NON_FINITE_VALUE)
    assert peer.served == served  # nothing reached the wire
    policy.close()


def test_wrong_or_missing_token_is_auth_failure(generation):
    with Gr00tTestPeer(generation=generation, api_token=TOKEN) as peer:
        for token in ("wrong-token", ""):
            policy = make_policy(peer, api_token=token)
            with pytest.raises(ProviderError) as err:
                policy.select_actions(small_obs(), 1, "predict_chunk")
            assert err.value.code == ErrorCode.PROVIDER_AUTH_FAILED
            assert "wrong-token" not in str(err.value)
            policy.close()
        good = make_policy(peer, api_token=TOKEN)
        assert good.select_actions(small_obs(), 1, "predict_chunk").actions["action"].shape == (1, 16, 8)
        assert [(r.had_token, r.token_ok) for r in peer.requests] == [(True, False), (False, False), (True, True)]
        good.close()


@pytest.mark.parametrize("fault", ["error_dict", "error_frame"])
def test_error_replies_are_typed_and_recoverable(peer, fault):
    policy = make_policy(peer)
    peer.inject(fault)
    with pytest.raises(ProviderError) as err:
        policy.select_actions(small_obs(), 1, "predict_chunk")
    assert err.value.code == ErrorCode.PROVIDER_RUNTIME_ERROR
    assert ("injected failure" in str(err.value)) if fault == "error_dict" else ("b'ERROR'" in str(err.value))
    assert policy.select_actions(small_obs(), 1, "predict_chunk").candidate_count == 1
    policy.close()


def test_timeout_then_success_on_rebuilt_socket(peer):
    policy = make_policy(peer, timeout_ms=300)
    peer.delay_s = 1.0
    policy.ping()
    peer.inject("delay")
    with pytest.raises(ProviderError) as err:
        policy.ping()
    assert err.value.code == ErrorCode.PROVIDER_TIMEOUT
    assert policy.transport.rebuild_count == 1
    assert peer.delay_done.wait(timeout=10)
    assert policy.ping()["status"] == "ok"  # same client object, fresh REQ socket
    assert policy.select_actions(small_obs(), 2, "predict_chunk").candidate_count == 2
    assert policy.transport.rebuild_count == 1
    policy.close()


def test_raw_req_socket_cannot_send_after_a_missed_reply():
    """Why the client rebuilds: a REQ socket that missed its reply refuses the next send (EFSM)."""
    context = zmq.Context()
    rep = context.socket(zmq.REP)
    port = rep.bind_to_random_port("tcp://127.0.0.1")
    req = context.socket(zmq.REQ)
    req.setsockopt(zmq.RCVTIMEO, 100)
    req.connect(f"tcp://127.0.0.1:{port}")
    req.send(b"hello")
    with pytest.raises(zmq.Again):
        req.recv()
    with pytest.raises(zmq.ZMQError) as err:
        req.send(b"again")
    assert err.value.errno == zmq.EFSM
    for sock in (req, rep):
        sock.close(linger=0)
    context.term()


def test_oversize_reply_refused_then_recovers(peer):
    policy = make_policy(peer, max_message_bytes=256 * 1024)
    peer.oversize_bytes = 1024 * 1024
    peer.inject("oversize")
    with pytest.raises(ProviderError, match="max_message_bytes=262144") as err:
        policy.ping()
    assert err.value.code == ErrorCode.PROVIDER_UNAVAILABLE
    assert policy.ping()["status"] == "ok"


def test_oversize_array_in_reply_refused(peer):
    policy = make_policy(peer, max_array_bytes=200)  # 16x7 float32 actions are 448 bytes
    state_only = ObservationData(task="t", joint_names=JOINTS, joint_positions=np.zeros(7))
    bridge = Gr00tObservationBridge(peer.generation, state_joints={"arm": JOINTS})
    policy._bridge = bridge
    with pytest.raises(ProviderError, match="max_array_bytes=200") as err:
        policy.select_actions(state_only, 1, "predict_chunk")
    assert err.value.code == ErrorCode.PROVIDER_CONTRACT_VIOLATION
    policy.close()


def test_strict_mode_checks_against_modality_config(peer):
    policy = make_policy(peer, strict=True)
    assert policy.select_actions(small_obs(), 1, "predict_chunk").candidate_count == 1
    wrong_camera = make_policy(peer, strict=True,
                               bridge=Gr00tObservationBridge(peer.generation, cameras={"front": "wrist"},
                                                             state_joints={"arm": JOINTS}))
    served = peer.served
    with pytest.raises(RequestError, match="wants video keys"):
        wrong_camera.select_actions(small_obs(), 1, "predict_chunk")
    assert [r.endpoint for r in peer.requests[served:]] == ["get_modality_config"]
    lax = make_policy(peer, strict=False,
                      bridge=Gr00tObservationBridge(peer.generation, cameras={"front": "wrist"}))
    assert lax.select_actions(small_obs(), 1, "predict_chunk").candidate_count == 1
    for p in (policy, wrong_camera, lax):
        p.close()


def test_invalid_requests_are_typed(peer):
    policy = make_policy(peer, embodiment_tag="GR1")
    with pytest.raises(RequestError):
        policy.select_actions(small_obs(), 0, "predict_chunk")
    with pytest.raises(RequestError):
        policy.select_actions(small_obs(), 1, "teleport")
    other = ObservationData(task="t", embodiment_tag="LIBERO_PANDA", joint_names=JOINTS, joint_positions=np.zeros(7))
    with pytest.raises(RequestError) as err:
        policy.select_actions(other, 1, "predict_chunk")
    assert err.value.code == ErrorCode.UNKNOWN_EMBODIMENT
    assert policy.select_actions(small_obs(), 1, "predict_chunk").embodiment_tag == "GR1"
    policy.close()


def test_events_and_token_never_leak(generation, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    events = []
    with Gr00tTestPeer(generation=generation, api_token=TOKEN) as peer:
        policy = make_policy(peer, events=events, api_token=TOKEN, embodiment_tag="GR1", strict=False)
        result = policy.select_actions(small_obs(), 2, "predict_chunk", request_id="req-1", run_id="run-1")
        peer.inject("error_dict")
        with pytest.raises(ProviderError):
            policy.select_actions(small_obs(), 1, "predict_chunk")
        health = policy.health()
        target = f"{peer.host}:{peer.port}"
        texts = [repr(policy), repr(policy.settings), repr(policy.transport), str(result.metadata),
                 str(health), str(policy.settings.summary()), str(policy.profile.to_dict())]
        policy.close()
    success, failure = events
    assert (success.phase, failure.phase) == ("success", "failure")
    for event in events:
        assert event.provider == "gr00t" and event.operation == "policy"
        assert event.method == "POLICYCLIENT.GET_ACTION" and event.target == target
        assert event.attempt == 1 and event.max_attempts == 1
        assert event.metadata["timeout_ms"] == 3000 and event.metadata["strict"] is False
        assert event.metadata["embodiment_tag"] == "GR1"
    assert success.metadata["candidate_count"] == 2 and success.metadata["action_horizon"] == 16
    assert (success.request_id, success.run_id) == ("req-1", "run-1")
    assert "candidate_count" not in failure.metadata and "injected failure" in failure.message
    assert health.healthy
    texts += [str(e.to_dict()) for e in events]
    captured = capsys.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    assert all(TOKEN not in text for text in texts)
    assert "[set]" in repr(policy)
