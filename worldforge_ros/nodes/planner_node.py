"""planner_node: serves ``/worldforge/plan``.

Asks the policy providers concurrently for candidate chunks, translates them for the embodiment (failing
loudly), scores all candidates in ONE batched call, checks the ranking and its direction, digests the plan and
publishes it latched on ``/worldforge/plans``. A ``deadline_s`` bounds every plan: a late or dead provider gives
a typed 2xx timeout, never a hang. Callbacks run on a MultiThreadedExecutor with a reentrant group and wait on
nested service futures with a timeout (the other executor threads complete them).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
import uuid
from typing import Any

import numpy as np
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState

from worldforge_ros.core.errors import ErrorCode, ProviderError, RequestError, WorldForgeRosError
from worldforge_ros.core.events import EventChain, ProviderEvent
from worldforge_ros.core.parameters import ParamSpec
from worldforge_ros.core.plan import PlanData
from worldforge_ros.core.redaction import redact_text
from worldforge_ros.core.selection import pool_candidates, select_candidate
from worldforge_ros.core.trajectory import StartState
from worldforge_ros.core.translator_registry import TranslatorRegistry
from worldforge_ros.msg import Candidate, Observation, PlanRecord
from worldforge_ros.msg import ProviderEvent as ProviderEventMsg
from worldforge_ros.nodes.conversions import (event_to_msg, ns_to_time, numpy_to_tensor,
                                              observation_from_msg, tensor_to_numpy, trajectory_to_msg)
from worldforge_ros.nodes.evidence_qos import EVENTS_QOS, PLANS_QOS
from worldforge_ros.nodes.params import declare_and_validate
from worldforge_ros.nodes.spin import NESTED_CALL_THREADS, run_node
from worldforge_ros.srv import Plan, ScoreActions, SelectActions


PARAMS = (
    ParamSpec("policy_providers", ["reference"], "Default policy providers when a request names none.", non_empty=True),
    ParamSpec("score_provider", "reference_scorer", "Default score provider ('none' = policy-only mode)."),
    ParamSpec("known_providers", ["reference", "reference_scorer", "lerobot", "gr00t", "leworldmodel"],
              "Provider names this planner may call; any other name is UNKNOWN_PROVIDER.", non_empty=True),
    ParamSpec("embodiment", "panda_7dof", "Default embodiment (translator) when a request names none.", non_empty=True),
    ParamSpec("embodiments_file", "", "Embodiments YAML (empty = the package's config/embodiments.yaml).",
              read_only=True),
    ParamSpec("candidates_per_policy", 8, "Default candidates requested from each policy.", min_value=1,
              max_value=256),
    ParamSpec("max_candidates_per_policy", 64, "Cap on candidates_per_policy in a request.", min_value=1,
              max_value=4096),
    ParamSpec("mode", "predict_chunk", "Policy call mode.", choices=("predict_chunk", "select_action")),
    ParamSpec("deadline_s", 10.0, "Default wall-clock budget of a plan (s).", min_value=0.01, max_value=600.0),
    ParamSpec("max_deadline_s", 120.0, "Largest deadline_s a request may ask for (s).", min_value=0.01),
    ParamSpec("max_observation_age_s", 2.0, "Reject observations older than this (s).", min_value=0.001),
    ParamSpec("joint_states_topic", "/joint_states", "Joint states for the latest observation.", read_only=True),
    ParamSpec("camera_topics", [], "Image topics for the latest observation (camera = header.frame_id).",
              read_only=True),
    ParamSpec("task", "", "Default instruction when a request has none."),
    ParamSpec("max_tensor_bytes", 64 * 1024 * 1024, "Largest accepted tensor or image payload (bytes).",
              min_value=1024),
    ParamSpec("run_id", "", "Run id stamped on plans and events (empty = one generated at startup)."),
)


class PlannerNode(Node):
    def __init__(self, node_name: str = "planner", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.p = declare_and_validate(self, PARAMS)
        self.translators = TranslatorRegistry.from_config(self.p["embodiments_file"] or None)
        self.run_id = self.p["run_id"] or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
        self._group = ReentrantCallbackGroup()
        self._chain = EventChain()
        self._chain_lock = threading.Lock()
        self._provider_clients: dict[tuple[str, str], Any] = {}
        self._provider_clients_lock = threading.Lock()
        self._latest_js: tuple[JointState, int] | None = None
        self._latest_images: dict[str, tuple[Image, int]] = {}
        self._obs_lock = threading.Lock()
        self._plans_pub = self.create_publisher(PlanRecord, "/worldforge/plans", PLANS_QOS)
        self._events_pub = self.create_publisher(ProviderEventMsg, "/worldforge/events", EVENTS_QOS)
        # Depth 1: a callback that runs late takes the newest state, never a queued older one stamped as fresh.
        self.create_subscription(JointState, self.p["joint_states_topic"], self._on_joint_state, 1,
                                 callback_group=self._group)
        for topic in [t for t in self.p["camera_topics"] if t]:
            self.create_subscription(Image, topic, self._on_image, qos_profile_sensor_data, callback_group=self._group)
        self.create_service(Plan, "/worldforge/plan", self._on_plan, callback_group=self._group)
        self.plans_served = 0
        self.get_logger().info(f"planner ready: /worldforge/plan (run {self.run_id}; embodiments "
                               f"{self.translators.names()})")

    # ---- observation ----------------------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        with self._obs_lock:
            self._latest_js = (msg, time.time_ns())

    def _on_image(self, msg: Image) -> None:
        with self._obs_lock:
            self._latest_images[msg.header.frame_id or "camera"] = (msg, time.time_ns())

    def _observation(self, req: Plan.Request) -> Observation:
        obs = req.observation
        empty = not obs.joint_state.name and not obs.images and not obs.extras
        if empty:
            with self._obs_lock:
                js, images = self._latest_js, dict(self._latest_images)
            if js is None:
                raise RequestError(f"empty observation and nothing received on {self.p['joint_states_topic']}",
                                   ErrorCode.OBSERVATION_MISSING)
            obs = Observation()
            obs.joint_state = js[0]
            obs.images = [img for img, _ in images.values()]
            received = [js[1]] + [t for _, t in images.values()]
            obs.stamp = ns_to_time(min(received))
        age_s = (time.time_ns() - (obs.stamp.sec * 1_000_000_000 + obs.stamp.nanosec)) / 1e9
        if obs.stamp.sec == 0 and obs.stamp.nanosec == 0:
            raise RequestError("observation has no stamp", ErrorCode.OBSERVATION_INVALID)
        if age_s > self.p["max_observation_age_s"]:
            raise RequestError(f"observation is {age_s:.3f}s old (max {self.p['max_observation_age_s']}s)",
                               ErrorCode.OBSERVATION_STALE)
        if not obs.task:
            obs.task = req.task or self.p["task"]
        return obs

    # ---- provider calls -------------------------------------------------------------------------------------
    def _client(self, srv_type: Any, name: str, kind: str) -> Any:
        key = (name, kind)
        with self._provider_clients_lock:
            if key not in self._provider_clients:
                self._provider_clients[key] = self.create_client(srv_type, f"/worldforge/providers/{name}/{kind}",
                                                        callback_group=self._group)
            return self._provider_clients[key]

    def _call(self, client: Any, request: Any, deadline: float, provider: str) -> Any:
        """Call and wait until ``deadline`` (monotonic); typed 200/201 on unavailable/timeout."""
        while not client.service_is_ready():
            if time.monotonic() >= deadline:
                raise ProviderError(f"provider {provider} is not available ({client.srv_name})",
                                    ErrorCode.PROVIDER_UNAVAILABLE, provider=provider)
            client.wait_for_service(timeout_sec=min(0.1, max(0.0, deadline - time.monotonic())))
        return client.call_async(request)

    @staticmethod
    def _await(futures: dict[str, Any], deadline: float) -> dict[str, Any]:
        done = threading.Event()
        remaining = set(futures)
        lock = threading.Lock()

        def finished(name: str) -> None:
            with lock:
                remaining.discard(name)
                if not remaining:
                    done.set()

        for name, fut in futures.items():
            fut.add_done_callback(lambda _f, n=name: finished(n))
        done.wait(max(0.0, deadline - time.monotonic()))
        return {name: fut.result() for name, fut in futures.items() if fut.done() and fut.result() is not None}

    def _cancel(self, client: Any, future: Any) -> None:
        if not future.done():
            client.remove_pending_request(future)

    # ---- plan -----------------------------------------------------------------------------------------------
    def _on_plan(self, req: Plan.Request, resp: Plan.Response) -> Plan.Response:
        started = time.monotonic()
        started_ns = time.time_ns()
        # Free text from callers is redacted at intake: the plan record is digested and recorded as built, so a
        # token pasted into a task or request id must never enter it (the policies see the redacted task too).
        req.task = redact_text(req.task)
        req.observation.task = redact_text(req.observation.task)
        request_id = redact_text(req.request_id) or uuid.uuid4().hex
        resp.run_id = self.run_id
        resp.selected_index = -1
        provider_events: list[ProviderEventMsg] = []
        try:
            plan = self._plan(req, request_id, started, provider_events)
            resp.success, resp.error_code, resp.error_message = True, 0, ""
            resp.plan_id, resp.plan_digest = plan.plan_id, plan.plan_digest
            resp.candidates, resp.selected_index = plan.candidates, plan.selected_index
            resp.lower_is_better, resp.start_state = plan.lower_is_better, plan.start_state
            own = self._emit("success", started, request_id, {"plan_digest": plan.plan_digest,
                                                              "candidate_count": len(plan.candidates),
                                                              "selected_index": plan.selected_index}, "")
        except Exception as exc:
            if not isinstance(exc, WorldForgeRosError):
                self.get_logger().error("planner internal error:\n" + traceback.format_exc())
            err = exc if isinstance(exc, WorldForgeRosError) else \
                ProviderError(f"planner internal error: {type(exc).__name__}: {exc}", ErrorCode.PROVIDER_RUNTIME_ERROR)
            resp.success, resp.error_code, resp.error_message = False, int(err.code), str(err)
            own = self._emit("failure", started, request_id, {"error_code": int(err.code), "error_name": err.name},
                             str(err))
        resp.events = provider_events + [own]
        self.plans_served += 1
        return resp

    def _plan(self, req: Plan.Request, request_id: str, started: float, events: list) -> PlanRecord:
        deadline_s = req.deadline_s or self.p["deadline_s"]
        if not np.isfinite(deadline_s) or deadline_s <= 0 or deadline_s > self.p["max_deadline_s"]:
            raise RequestError(f"deadline_s must be in (0, {self.p['max_deadline_s']}], got {req.deadline_s}",
                               ErrorCode.INVALID_ARGUMENT)
        deadline = started + deadline_s
        policies = list(req.policy_providers) or list(self.p["policy_providers"])
        scorer = req.score_provider or self.p["score_provider"]
        for name in policies + ([scorer] if scorer != "none" else []):
            if name not in self.p["known_providers"]:
                raise RequestError(f"unknown provider {name!r}; known: {self.p['known_providers']}",
                                   ErrorCode.UNKNOWN_PROVIDER)
        if len(set(policies)) != len(policies):
            raise RequestError(f"policy_providers lists a provider twice: {policies}", ErrorCode.INVALID_ARGUMENT)
        translator = self.translators.get(req.embodiment or self.p["embodiment"])
        n = int(req.candidates_per_policy) or self.p["candidates_per_policy"]
        if n > self.p["max_candidates_per_policy"]:
            raise RequestError(f"candidates_per_policy {n} exceeds {self.p['max_candidates_per_policy']}",
                               ErrorCode.INVALID_ARGUMENT)
        obs_msg = self._observation(req)
        obs = observation_from_msg(obs_msg, self.p["max_tensor_bytes"])
        start = StartState(obs.joint_names, obs.joint_positions) if obs.joint_names else None

        # 1. policies, concurrently
        clients, futures = {}, {}
        for name in policies:
            clients[name] = self._client(SelectActions, name, "select_actions")
            futures[name] = self._call(clients[name], SelectActions.Request(
                observation=obs_msg, num_candidates=n, mode=self.p["mode"], request_id=request_id,
                run_id=self.run_id), deadline, name)
        answers = self._await(futures, deadline)
        for name, fut in futures.items():
            self._cancel(clients[name], fut)
        missing = [name for name in policies if name not in answers]
        for name in policies:
            if name in answers:
                events.append(answers[name].event)
        if missing:
            raise ProviderError(f"policy provider(s) {missing} did not answer within deadline_s={deadline_s}",
                                ErrorCode.PROVIDER_TIMEOUT, providers=missing)
        groups, raws = [], []
        for name in policies:
            ans = answers[name]
            if not ans.success:
                raise ProviderError(f"policy {name} failed: {ans.error_message}", ErrorCode(ans.error_code)
                                    if ans.error_code in ErrorCode._value2member_map_ else ErrorCode.PROVIDER_RUNTIME_ERROR)
            main = next((t for t in ans.raw_actions if t.name == "action"), None)
            if main is None:
                raise ProviderError(f"policy {name} returned no 'action' tensor", ErrorCode.PROVIDER_CONTRACT_VIOLATION)
            raw = tensor_to_numpy(main, self.p["max_tensor_bytes"])
            translated = translator.translate(raw, start, embodiment_tag=obs.embodiment_tag,
                                              max_steps=int(req.max_steps))
            groups.append((name, translated))
            steps = translated[0].trajectory.num_points if translated else 0
            raws.append(raw[:, :steps])
        pooled = pool_candidates(groups)
        if not pooled:
            raise ProviderError("policies returned no candidates", ErrorCode.PROVIDER_CONTRACT_VIOLATION)

        # 2. one batched score call
        if scorer == "none":
            selection = select_candidate([c.feasible for c in pooled])
        else:
            stacked = np.concatenate(raws, axis=0)
            client = self._client(ScoreActions, scorer, "score_actions")
            fut = self._call(client, ScoreActions.Request(
                observation=obs_msg, candidates=numpy_to_tensor("candidates", stacked), request_id=request_id,
                run_id=self.run_id), deadline, scorer)
            ans = self._await({scorer: fut}, deadline).get(scorer)
            self._cancel(client, fut)
            if ans is None:
                raise ProviderError(f"score provider {scorer} did not answer within deadline_s={deadline_s}",
                                    ErrorCode.PROVIDER_TIMEOUT, providers=[scorer])
            events.append(ans.event)
            if not ans.success:
                raise ProviderError(f"score provider {scorer} failed: {ans.error_message}",
                                    ErrorCode(ans.error_code) if ans.error_code in ErrorCode._value2member_map_
                                    else ErrorCode.PROVIDER_RUNTIME_ERROR)
            selection = select_candidate([c.feasible for c in pooled], list(ans.scores), int(ans.best_index),
                                         bool(ans.lower_is_better), scorer)

        # 3. the plan record and its digest
        if start is None:
            raise RequestError("the observation has no joint state: a plan needs a start state",
                               ErrorCode.OBSERVATION_MISSING)
        plan = PlanData.from_selection(
            pooled, selection, start_state=start, task=obs_msg.task, embodiment=translator.name,
            policy_providers=policies, score_provider=scorer, run_id=self.run_id, request_id=request_id,
            max_steps=int(req.max_steps), event_digests=[e.digest for e in events],
            translator_contract=translator.contract_summary(list(raws[0].shape[1:]) if raws else None),
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        plan_json = plan.plan_json()
        record = PlanRecord(plan_id=plan.plan_id, plan_digest=plan.plan_digest, run_id=self.run_id,
                            request_id=request_id, stamp=ns_to_time(time.time_ns()), task=obs_msg.task,
                            embodiment=translator.name, policy_providers=policies, score_provider=scorer,
                            selected_index=selection.selected_index, lower_is_better=selection.lower_is_better,
                            plan_json=plan_json)
        record.start_state.name = list(obs.joint_names)
        record.start_state.position = [float(v) for v in obs.joint_positions]
        for pc in pooled:
            traj = pc.candidate.trajectory
            record.candidates.append(Candidate(
                index=pc.index, policy_provider=pc.policy_provider, policy_candidate_index=pc.policy_candidate_index,
                trajectory=trajectory_to_msg(traj.joint_names, traj.positions, traj.velocities, traj.times_s),
                score=float(selection.scores[pc.index]) if selection.scores is not None else float("nan"),
                feasible=pc.feasible, violations=list(pc.candidate.violations),
                raw_shape=list(pc.candidate.raw_shape), raw_digest=pc.candidate.raw_digest))
        self._plans_pub.publish(record)
        return record

    def _emit(self, phase: str, started: float, request_id: str, meta: dict, message: str) -> ProviderEventMsg:
        ev = ProviderEvent.build("planner", "plan", phase, method="PLAN", target="/worldforge/plan",
                                 duration_ms=(time.monotonic() - started) * 1000.0, message=message, metadata=meta,
                                 run_id=self.run_id, request_id=request_id)
        with self._chain_lock:
            msg = event_to_msg(self._chain.stamp(ev))
        self._events_pub.publish(msg)
        return msg


def main(argv: list[str] | None = None) -> int:
    return run_node("planner_node", PlannerNode, argv, threads=NESTED_CALL_THREADS)


if __name__ == "__main__":
    sys.exit(main())
