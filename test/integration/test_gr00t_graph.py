"""A GR00T provider node against a local ZeroMQ peer that speaks the documented protocol, on a real graph."""

import threading

import numpy as np
import pytest

from graph_helpers import PANDA, PANDA_HOME, plan_client, plan_request, planner, provider
from ros_harness import installed_executable, node_env, wait_until
from worldforge_ros.core.errors import ErrorCode
from worldforge_ros.testing.gr00t_peer import Gr00tTestPeer

pytestmark = pytest.mark.graph
TOKEN = "gr00t-tok-5c1d9e-never-recorded"
GOAL = "[0.1, -0.6, 0.1, -2.2, 0.1, 1.7, 0.9]"


def gr00t_node(node_processes, peer, token=TOKEN, generation="n1.6", token_file=None):
    argv = installed_executable("provider_node") + [
        "--ros-args", "-r", "__node:=provider_gr00t", "-p", "provider:=gr00t",
        "-p", "gr00t.host:=127.0.0.1", "-p", f"gr00t.port:={peer.port}", "-p", f"gr00t.generation:={generation}",
        "-p", "gr00t.timeout_ms:=2000", "-p", "gr00t.action_keys:=['joint_position']",
        "-p", "gr00t.state_keys:=['arm=" + ",".join(PANDA) + "']"]
    if token_file:
        argv += ["-p", f"gr00t.api_token_file:={token_file}"]
        return node_processes(argv, "provider_gr00t")
    return node_processes(argv, "provider_gr00t", node_env({"GROOT_POLICY_API_TOKEN": token}))


def test_token_from_a_file_is_used_and_no_parameter_reveals_it(ros_graph, node_processes, tmp_path):
    """The token comes from a file (mode 0600): the server sees the right token, and reading every parameter of
    the node (what `ros2 param get` does) never returns it."""
    from rcl_interfaces.srv import GetParameters, ListParameters

    token_file = tmp_path / "gr00t.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    with Gr00tTestPeer(generation="n1.6", api_token=TOKEN, max_requests=500) as peer:
        gr00t_node(node_processes, peer, token_file=str(token_file))
        listed = ros_graph.call(ros_graph.client(ListParameters, "/provider_gr00t/list_parameters"),
                                ListParameters.Request())
        names = list(listed.result.names)
        assert "gr00t.api_token_file" in names and not any(n.endswith("api_token") for n in names)
        values = ros_graph.call(ros_graph.client(GetParameters, "/provider_gr00t/get_parameters"),
                                GetParameters.Request(names=names)).values
        assert len(values) == len(names)
        assert all(TOKEN not in str(v) for v in values)
        assert wait_until(lambda: any(r.had_token and r.token_ok for r in peer.requests), timeout=20.0)


def scorer(node_processes):
    provider(node_processes, "reference_scorer", "-p", f"reference_scorer.goal_positions:={GOAL}")


def events_log(ros_graph, publishers):
    """Collect /worldforge/events with the recorder's QoS once ``publishers`` nodes are matched on this side.

    Events are latched (keep last 100): what a provider published before its writer matched this subscription
    still arrives (with a volatile topic CI once lost the first plan's event that way)."""
    from worldforge_ros.msg import ProviderEvent
    from worldforge_ros.nodes.evidence_qos import EVENTS_QOS

    seen, lock = [], threading.Lock()

    def on_event(msg):
        with lock:
            seen.append(msg)

    sub = ros_graph.node.create_subscription(ProviderEvent, "/worldforge/events", on_event, EVENTS_QOS)
    assert wait_until(lambda: sub.get_publisher_count() >= publishers), \
        f"{sub.get_publisher_count()} of {publishers} event publishers matched"
    return seen


def test_gr00t_plan_pooled_with_reference_then_server_loss_is_typed(ros_graph, node_processes):
    with Gr00tTestPeer(generation="n1.6", api_token=TOKEN, max_requests=500, seed=4) as peer:
        # The peer's actions are random numbers: its chunk is usually infeasible for the Panda (start distance);
        # it is still translated, scored and reported, and selection picks among the feasible candidates.
        gr00t_node(node_processes, peer)
        provider(node_processes, "reference", "-p", f"reference.goal_positions:={GOAL}",
                 "-p", "reference.max_step:=0.05")
        scorer(node_processes)
        planner(node_processes, "-p", "policy_providers:=['gr00t', 'reference']", "-p", "candidates_per_policy:=3")
        events = events_log(ros_graph, publishers=4)
        client = plan_client(ros_graph)
        resp = ros_graph.call(client, plan_request(task="pick up the cube", request_id="g1"))
        assert resp.success, f"[{resp.error_code}] {resp.error_message}"
        providers = [c.policy_provider for c in resp.candidates]
        assert providers.count("gr00t") == 3 and providers.count("reference") == 3
        gr00t_candidate = resp.candidates[providers.index("gr00t")]
        assert list(gr00t_candidate.raw_shape)[-2:] == [16, 7] and len(gr00t_candidate.trajectory.points) == 16
        assert np.isfinite(gr00t_candidate.score)
        feasible = [i for i, c in enumerate(resp.candidates) if c.feasible]
        assert resp.selected_index in feasible
        assert any(r.endpoint == "get_action" and r.token_ok for r in peer.requests)
        sent = next(r for r in peer.requests if r.endpoint == "get_action")
        state = sent.data["observation"]["state"]["arm"]
        state = np.asarray(state)
        assert state.shape == (3, 1, 7) and state.dtype == np.float32  # (B, T, D): three candidates, one batch
        np.testing.assert_allclose(state.reshape(3, 7), np.tile(PANDA_HOME, (3, 1)), rtol=1e-6)
        assert wait_until(lambda: any(e.provider == "gr00t" for e in events))
        assert all(TOKEN not in (e.message + e.metadata_json + e.target) for e in events)
        assert all(TOKEN not in (e.message + e.metadata_json) for e in resp.events)
    # The server is gone: the next plan gets a typed provider error within its deadline, and the planner serves on.
    late = ros_graph.call(client, plan_request(deadline_s=6.0, policy_providers=["gr00t"]), timeout=20.0)
    assert not late.success and 200 <= late.error_code < 300, late.error_message
    still = ros_graph.call(client, plan_request(policy_providers=["reference"]))
    assert still.success, still.error_message


def test_wrong_token_fails_closed_with_a_typed_reason_and_is_never_recorded(ros_graph, node_processes):
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    diagnostics = []
    ros_graph.node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: diagnostics.extend(m.status), 50)
    with Gr00tTestPeer(generation="n1.7", api_token="the-right-token", max_requests=500) as peer:
        gr00t_node(node_processes, peer, token=TOKEN, generation="n1.7")
        scorer(node_processes)
        planner(node_processes, "-p", "policy_providers:=['gr00t']")
        events = events_log(ros_graph, publishers=3)
        client = plan_client(ros_graph)
        # The server refuses the token when the node configures: the provider stays unconfigured (fail closed) and
        # a plan gets the typed "not active" error; the node says why on /diagnostics.
        resp = ros_graph.call(client, plan_request(request_id="bad-token"))
        assert not resp.success and resp.error_code == ErrorCode.PROVIDER_NOT_ACTIVE, resp.error_message
        assert any(r.had_token and not r.token_ok for r in peer.requests)
        assert not any(r.endpoint == "get_action" for r in peer.requests)

        def auth_status():
            return next((st for st in reversed(diagnostics) if st.hardware_id == "gr00t"
                         and st.level == DiagnosticStatus.ERROR and "token" in st.message + str(st.values)), None)

        assert wait_until(lambda: auth_status() is not None, timeout=15.0), \
            [(st.hardware_id, st.level, st.message) for st in diagnostics[-3:]]
        everything = [auth_status().message, str(auth_status().values), resp.error_message] + \
            [e.message + e.metadata_json + e.target for e in list(events) + list(resp.events)]
        assert all(TOKEN not in text for text in everything)


def test_provider_diagnostics_report_health_and_latency(ros_graph, node_processes):
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    seen = []
    ros_graph.node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: seen.extend(m.status), 50)
    with Gr00tTestPeer(generation="n1.6", api_token=TOKEN, max_requests=500) as peer:
        gr00t_node(node_processes, peer)
        scorer(node_processes)
        planner(node_processes, "-p", "policy_providers:=['gr00t']")
        client = plan_client(ros_graph)
        for _ in range(3):  # the peer's random chunks are infeasible for the Panda: the plans fail with 310,
            resp = ros_graph.call(client, plan_request())  # but each made one provider call
            assert resp.success or resp.error_code == ErrorCode.NO_FEASIBLE_CANDIDATE, resp.error_message

        def gr00t_status():
            for st in reversed(seen):
                if st.hardware_id == "gr00t":
                    values = {kv.key: kv.value for kv in st.values}
                    if values.get("calls") == "3":
                        return st, values
            return None

        assert wait_until(lambda: gr00t_status() is not None, timeout=15.0)
        st, values = gr00t_status()
        assert st.level == DiagnosticStatus.OK and values["status"] == "active" and values["loaded"] == "True"
        assert float(values["p50_ms"]) > 0 and float(values["p95_ms"]) >= float(values["p50_ms"])
        assert TOKEN not in str(values)
