"""planner_node: serves ``worldforge/plan`` (relative: it follows the node's namespace).

A thin shell over :mod:`worldforge_ros.core.planning`: it keeps the latest observation (joint states, the
configured cameras, an optional goal topic), converts messages, and supplies the core with coroutines that call
the provider services. Every callback is ``async``: waiting for providers, for a first observation or for a
service to appear yields the executor thread, so many callers plan at once on a few threads. ``deadline_s``
bounds every plan by timers; a late or dead provider gives a typed 2xx timeout, never a hang.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState

from worldforge_ros.core import names
from worldforge_ros.core.errors import ErrorCode, ProviderError, RequestError, as_typed
from worldforge_ros.core.events import EventChain, ProviderEvent
from worldforge_ros.core.observation import ObservationData
from worldforge_ros.core.plan import PlanData
from worldforge_ros.core.parameters import ParamSpec
from worldforge_ros.core.planning import NO_SCORER, PlannerDefaults, PlanningCore, ProviderReply, resolve_settings
from worldforge_ros.core.redaction import redact_text
from worldforge_ros.core.translator_registry import TranslatorRegistry
from worldforge_ros.core.wiring import JointMap, camera_sources
from worldforge_ros.msg import Observation, PlanRecord
from worldforge_ros.msg import ProviderEvent as ProviderEventMsg
from worldforge_ros.nodes.awaiting import SentRequest, keep_awake, wait_for, wait_until
from worldforge_ros.nodes.after_reply import AfterReply
from worldforge_ros.nodes.conversions import (candidate_msg, candidate_trajectory_msg, compressed_to_image,
                                              event_to_msg, ns_to_time, numpy_to_tensor, observation_from_msg,
                                              observation_to_msg, plan_record_msg, score_value, start_state_msg,
                                              tensor_to_numpy, time_to_ns)
from worldforge_ros.nodes.evidence_qos import EVENTS_QOS, PLANS_QOS
from worldforge_ros.nodes.params import declare_and_validate
from worldforge_ros.nodes.spin import EXECUTOR_PARAM, run_node
from worldforge_ros.srv import Plan, ScoreActions, SelectActions

GOAL_EXTRA = "goal_positions"
POSE_GOAL_EXTRA = "goal_pose"
SERVICE_QOS = QoSProfile(depth=100)
"""Plan service and provider clients keep up to 100 queued requests / replies: with the default depth 10 a burst
of callers loses requests beyond the tenth, and a client with 16 calls in flight loses replies (keep-last
overwrites what it has not taken yet)."""

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
    ParamSpec("joint_states_topic", names.JOINT_STATES_TOPIC,
              "Joint states for the latest observation (relative: follows the namespace).", read_only=True),
    ParamSpec("camera_topics", [],
              "Cameras for the latest observation: 'key=topic' (the policy's camera key, then a sensor_msgs/Image "
              "topic, or a CompressedImage topic ending in /compressed); a bare topic uses the image's frame_id.",
              read_only=True),
    ParamSpec("joint_map", [],
              "Robot joint -> policy joint, as 'robot_joint=policy_joint' entries. Policies see only mapped joints "
              "(others, e.g. gripper fingers, are ignored); plans use the robot's names. Empty = names as they are.",
              read_only=True),
    ParamSpec("goal_topic", "", "Optional goal topic (latest message used when a request carries no goal).",
              read_only=True),
    ParamSpec("goal_topic_type", "joint_state", "Type of goal_topic: joint_state (sensor_msgs/JointState, mapped "
              "through joint_map) or pose (geometry_msgs/PoseStamped -> [x y z qx qy qz qw]).", read_only=True,
              choices=("joint_state", "pose")),
    ParamSpec("goal_positions", [], "Goal joint positions (policy joint order) used when neither the request nor "
              "goal_topic gives one (empty: the providers' own configuration).", list_kind="double"),
    ParamSpec("collision_check", "none", "Check every feasible candidate against a scene along its whole "
              "trajectory: none, or scene (the MuJoCo Panda scene of worldforge_ros.scene, panda_7dof joints, "
              "self and world contacts at 0.02 s; a contact makes the candidate infeasible with the pair and time).",
              read_only=True, choices=("none", "scene")),
    ParamSpec("task", "", "Default instruction when a request has none."),
    ParamSpec("max_tensor_bytes", 64 * 1024 * 1024, "Largest accepted tensor or image payload (bytes).",
              min_value=1024),
    ParamSpec("run_id", "", "Run id stamped on plans and events (empty = one generated at startup)."),
    EXECUTOR_PARAM,
)


def scene_feasibility(kind: str) -> Any:
    """The planner's feasibility check for ``collision_check`` (None for ``none``); a scene that cannot be built
    (MuJoCo or the Panda assets missing) is a startup error naming why."""
    if kind == "none":
        return None
    try:
        from worldforge_ros.scene.collision import SceneFeasibilityChecker

        checker = SceneFeasibilityChecker()
    except Exception as exc:  # ImportError, SceneUnavailable: the node must not start pretending to check
        raise RequestError(f"collision_check:=scene but the scene cannot be built: {exc}",
                           ErrorCode.INVALID_ARGUMENT) from None

    def check(trajectory: Any, start: Any) -> list[str]:
        start_q = start.positions_for(trajectory.joint_names)
        return checker.check(trajectory.times_s, trajectory.positions, trajectory.joint_names,
                             start_positions=start_q)[1]

    return check


class PlannerNode(Node):
    def __init__(self, node_name: str = names.PLANNER_NODE, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.p = declare_and_validate(self, PARAMS)
        self.translators = TranslatorRegistry.from_config(self.p["embodiments_file"] or None)
        self.joint_map = JointMap.from_entries(self.p["joint_map"])
        self.cameras = camera_sources(self.p["camera_topics"])
        self.core = PlanningCore(self.translators, self.joint_map, scene_feasibility(self.p["collision_check"]))
        self.run_id = self.p["run_id"] or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
        self._group = ReentrantCallbackGroup()
        self._chain = EventChain()
        self._chain_lock = threading.Lock()
        self._provider_clients: dict[tuple[str, str], Any] = {}
        self._latest_js: tuple[JointState, int] | None = None
        self._latest_images: dict[str, tuple[Image, int]] = {}
        self._latest_goal: tuple[np.ndarray, str] | None = None
        self._obs_lock = threading.Lock()
        self._plans_pub = self.create_publisher(PlanRecord, names.PLANS_TOPIC, PLANS_QOS)
        self._events_pub = self.create_publisher(ProviderEventMsg, names.EVENTS_TOPIC, EVENTS_QOS)
        self._after_reply = AfterReply(self)  # the plan record and events go out after the reply
        # Depth 1: a callback that runs late takes the newest state, never a queued older one stamped as fresh.
        self.create_subscription(JointState, self.p["joint_states_topic"], self._on_joint_state, 1,
                                 callback_group=self._group)
        for cam in self.cameras:
            if cam.compressed:
                self.create_subscription(CompressedImage, cam.topic, lambda m, c=cam: self._on_compressed(m, c.key),
                                         qos_profile_sensor_data, callback_group=self._group)
            else:
                self.create_subscription(Image, cam.topic, lambda m, c=cam: self._on_image(m, c.key),
                                         qos_profile_sensor_data, callback_group=self._group)
        if self.p["goal_topic"]:
            if self.p["goal_topic_type"] == "pose":
                self.create_subscription(PoseStamped, self.p["goal_topic"], self._on_goal_pose, 1,
                                         callback_group=self._group)
            else:
                self.create_subscription(JointState, self.p["goal_topic"], self._on_goal_joints, 1,
                                         callback_group=self._group)
        self.create_service(Plan, names.PLAN_SERVICE, self._on_plan, qos_profile=SERVICE_QOS,
                            callback_group=self._group)
        self._wake_timer = keep_awake(self, self._group)
        # The default providers' clients exist from startup, so discovery in both directions is done before the
        # first plan: a client made at the first request can see the service ready (its request writer and reply
        # reader matched) while the server has not yet matched the client's reply reader, and rmw_fastrtps drops
        # a reply it cannot deliver within 100 ms ("client will not receive response"): that plan would wait for
        # its deadline.
        defaults = [(SelectActions, name, "policy") for name in self.p["policy_providers"]]
        if self.p["score_provider"] != NO_SCORER:
            defaults.append((ScoreActions, self.p["score_provider"], "score"))
        for srv_type, name, capability in defaults:
            if name not in self.p["known_providers"]:
                continue  # a request naming it gets UNKNOWN_PROVIDER
            try:
                self._client(srv_type, name, capability)
            except Exception as exc:  # an invalid name: requests naming it fail typed, startup goes on
                self.get_logger().warning(f"no client for provider {name!r}: {redact_text(str(exc))}")
        self.plans_served = 0
        self.get_logger().info(f"planner ready: {self.resolve_service_name(names.PLAN_SERVICE)} (run {self.run_id}; "
                               f"embodiments {self.translators.names()}; cameras "
                               f"{[c.key or c.topic for c in self.cameras]})")

    def destroy_node(self) -> None:
        self._after_reply.flush()  # a reply that went out keeps its record and event
        super().destroy_node()

    # ---- observation sources --------------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        with self._obs_lock:
            self._latest_js = (msg, time.time_ns())

    def _on_image(self, msg: Image, key: str) -> None:
        if key:
            msg.header.frame_id = key
        with self._obs_lock:
            self._latest_images[msg.header.frame_id or "camera"] = (msg, time.time_ns())

    def _on_compressed(self, msg: CompressedImage, key: str) -> None:
        try:
            image = compressed_to_image(msg, self.p["max_tensor_bytes"])
        except Exception as exc:  # never a traceback out of a callback: the camera just has no fresh frame
            self.get_logger().warning(f"camera {key or msg.header.frame_id}: {redact_text(str(exc))}",
                                      throttle_duration_sec=5.0)
            return
        self._on_image(image, key)

    def _on_goal_joints(self, msg: JointState) -> None:
        try:
            _names, pos, _ = self.joint_map.to_policy(list(msg.name), np.asarray(msg.position, dtype=np.float64))
        except Exception as exc:
            self.get_logger().warning(f"goal on {self.p['goal_topic']} ignored: {exc}", throttle_duration_sec=5.0)
            return
        with self._obs_lock:
            self._latest_goal = (pos.astype(np.float64), GOAL_EXTRA)

    def _on_goal_pose(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        with self._obs_lock:
            self._latest_goal = (np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w], dtype=np.float64), POSE_GOAL_EXTRA)

    def _missing_sources(self) -> list[str]:
        with self._obs_lock:
            missing = [] if self._latest_js is not None else [self.resolve_topic_name(self.p["joint_states_topic"])]
            have = set(self._latest_images)
        missing += [c.topic for c in self.cameras if c.key and c.key not in have]
        return missing

    async def _observation(self, req: Plan.Request, deadline: float) -> Observation:
        """The request's observation, or the latest from the topics (waiting for a first one until the deadline),
        with the goal added when the request has none; stale or unstamped observations are typed errors."""
        obs = req.observation
        if not obs.joint_state.name and not obs.images and not obs.extras:
            if not await wait_until(self, lambda: not self._missing_sources(), deadline, self._group):
                raise RequestError(f"empty observation and nothing received on {self._missing_sources()} before "
                                   "the deadline", ErrorCode.OBSERVATION_MISSING)
            with self._obs_lock:
                js, images = self._latest_js, dict(self._latest_images)
            obs = Observation()
            obs.joint_state = js[0]
            obs.images = [img for img, _ in images.values()]
            obs.stamp = ns_to_time(min([js[1]] + [t for _, t in images.values()]))
        if obs.stamp.sec == 0 and obs.stamp.nanosec == 0:
            raise RequestError("observation has no stamp", ErrorCode.OBSERVATION_INVALID)
        age_s = (time.time_ns() - time_to_ns(obs.stamp)) / 1e9
        if age_s > self.p["max_observation_age_s"]:
            raise RequestError(f"observation is {age_s:.3f}s old (max {self.p['max_observation_age_s']}s)",
                               ErrorCode.OBSERVATION_STALE)
        if not obs.task:
            obs.task = req.task or self.p["task"]
        self._add_goal(obs)
        return obs

    def _add_goal(self, obs: Observation) -> None:
        if any(t.name in (GOAL_EXTRA, POSE_GOAL_EXTRA) for t in obs.extras):
            return
        with self._obs_lock:
            goal = self._latest_goal
        if goal is None and self.p["goal_positions"]:
            goal = (np.asarray(self.p["goal_positions"], dtype=np.float64), GOAL_EXTRA)
        if goal is not None:
            obs.extras.append(numpy_to_tensor(goal[1], goal[0]))

    def _policy_view(self, obs_msg: Observation) -> tuple[ObservationData, Observation]:
        """The observation as the policies see it: joint_map applied (robot names -> policy names)."""
        data = observation_from_msg(obs_msg, self.p["max_tensor_bytes"])
        if self.joint_map.identity:
            return data, obs_msg
        names_, pos, vel = self.joint_map.to_policy(data.joint_names, data.joint_positions, data.joint_velocities)
        data = ObservationData(stamp_ns=data.stamp_ns, task=data.task, embodiment_tag=data.embodiment_tag,
                               joint_names=names_, joint_positions=pos, joint_velocities=vel, images=data.images,
                               extras=data.extras)
        return data, observation_to_msg(data)

    # ---- provider calls -------------------------------------------------------------------------------------
    def _client(self, srv_type: Any, provider: str, capability: str) -> Any:
        key = (provider, capability)
        if key not in self._provider_clients:  # callbacks may race here: a duplicate client is harmless
            self._provider_clients[key] = self.create_client(srv_type, names.provider_service(provider, capability),
                                                             qos_profile=SERVICE_QOS, callback_group=self._group)
        return self._provider_clients[key]

    async def _ready(self, client: Any, provider: str, deadline: float) -> None:
        if not await wait_until(self, client.service_is_ready, deadline, self._group):
            raise ProviderError(f"provider {provider} is not available ({client.srv_name})",
                                ErrorCode.PROVIDER_UNAVAILABLE, provider=provider)

    async def _ask_policies(self, obs_msg: Observation, request_id: str, deadline: float, mode: str,
                            providers: list[str], n: int) -> dict[str, ProviderReply]:
        clients = {name: self._client(SelectActions, name, "policy") for name in providers}
        for name, client in clients.items():
            await self._ready(client, name, deadline)
        sent = {name: SentRequest(self, client, SelectActions.Request(
            observation=obs_msg, num_candidates=n, mode=mode, request_id=request_id, run_id=self.run_id),
            deadline, self._group) for name, client in clients.items()}
        answers = await wait_for(self, {name: s.future for name, s in sent.items()}, deadline, self._group)
        for request in sent.values():
            request.close()  # forgets the ones still pending at the deadline
        return {name: self._policy_reply(name, ans) for name, ans in answers.items()}

    def _policy_reply(self, name: str, ans: Any) -> ProviderReply:
        actions = None
        if ans.success:
            main = next((t for t in ans.raw_actions if t.name == "action"), None)
            actions = None if main is None else tensor_to_numpy(main, self.p["max_tensor_bytes"])
        return ProviderReply(name, bool(ans.success), int(ans.error_code), ans.error_message, actions=actions,
                             event_digest=ans.event.digest, event=ans.event)

    def _ask_scorer(self, obs_msg: Observation, request_id: str, deadline: float, scorer: str,
                    candidates: np.ndarray) -> Any:
        """The batched score request, sent now when the scorer's service is ready (the planning core translates
        while the scorer works); awaiting the result gives the reply, or None when none came by the deadline."""
        client = self._client(ScoreActions, scorer, "score")
        request = ScoreActions.Request(observation=obs_msg, candidates=numpy_to_tensor("candidates", candidates),
                                       request_id=request_id, run_id=self.run_id)

        def reply(ans: Any) -> ProviderReply:
            return ProviderReply(scorer, bool(ans.success), int(ans.error_code), ans.error_message,
                                 scores=tuple(ans.scores), best_index=int(ans.best_index),
                                 lower_is_better=bool(ans.lower_is_better), event_digest=ans.event.digest,
                                 event=ans.event)

        if client.service_is_ready():
            return SentRequest(self, client, request, deadline, self._group, reply)

        async def when_ready() -> ProviderReply | None:
            await self._ready(client, scorer, deadline)
            return await SentRequest(self, client, request, deadline, self._group, reply)

        return when_ready()

    # ---- plan -----------------------------------------------------------------------------------------------
    def _defaults(self) -> PlannerDefaults:
        p = self.p
        return PlannerDefaults(tuple(p["policy_providers"]), p["score_provider"], p["embodiment"],
                               p["candidates_per_policy"], p["max_candidates_per_policy"], p["deadline_s"],
                               p["max_deadline_s"], tuple(p["known_providers"]))

    async def _on_plan(self, req: Plan.Request, resp: Plan.Response) -> Plan.Response:
        started = time.monotonic()
        # Free text from callers is redacted at intake: the plan record is digested and recorded as built, so a
        # token pasted into a task or request id must never enter it (the policies see the redacted task too).
        req.task = redact_text(req.task)
        req.observation.task = redact_text(req.observation.task)
        request_id = redact_text(req.request_id) or uuid.uuid4().hex
        resp.run_id, resp.selected_index = self.run_id, -1
        replies: list[ProviderReply] = []
        try:
            plan, candidates, stages_ms = await self._plan(req, request_id, started, replies)
            resp.success, resp.error_code, resp.error_message = True, 0, ""
            resp.plan_id, resp.plan_digest = plan.plan_id, plan.plan_digest
            resp.candidates, resp.selected_index = candidates, plan.selected_index
            resp.lower_is_better, resp.start_state = plan.lower_is_better, start_state_msg(plan.start_state)
            own = self._emit("success", started, request_id, {"plan_digest": plan.plan_digest,
                                                              "candidate_count": len(candidates),
                                                              "selected_index": plan.selected_index,
                                                              "stages_ms": stages_ms}, "")
        except Exception as exc:  # the one error boundary: typed errors as they are, anything else INTERNAL_ERROR
            err = as_typed(exc)
            if err.code == ErrorCode.INTERNAL_ERROR:
                self.get_logger().error(f"planner internal error: {redact_text(str(exc))}")
            message = redact_text(str(err))
            resp.success, resp.error_code, resp.error_message = False, int(err.code), message
            own = self._emit("failure", started, request_id, {"error_code": int(err.code), "error_name": err.name},
                             message)
        resp.events = [r.event for r in replies if r.event is not None] + [own]
        self.plans_served += 1
        return resp

    async def _plan(self, req: Plan.Request, request_id: str, started: float,
                    replies: list) -> tuple[PlanData, list, dict]:
        """The plan, its candidates as messages (what the reply carries) and where the time went: the core's
        stages plus ``record`` (scores into the candidate messages, the record queued). The record itself is built
        and published after the reply (:class:`AfterReply`); the success event carries the stages as
        ``stages_ms``."""
        settings = resolve_settings(self._defaults(), policies=list(req.policy_providers),
                                    scorer=req.score_provider, embodiment=req.embodiment,
                                    candidates_per_policy=int(req.candidates_per_policy), max_steps=int(req.max_steps),
                                    deadline_s=req.deadline_s)
        self.translators.get(settings.embodiment)  # unknown embodiment: a typed 1xx before anything is asked
        deadline = started + settings.deadline_s
        obs_msg = await self._observation(req, deadline)
        observation, policy_msg = self._policy_view(obs_msg)

        async def ask_policies(providers: Any, n: int) -> dict[str, ProviderReply]:
            return await self._ask_policies(policy_msg, request_id, deadline, self.p["mode"], list(providers), n)

        def ask_scorer(scorer: str, candidates: np.ndarray) -> Any:
            return self._ask_scorer(policy_msg, request_id, deadline, scorer, candidates)

        candidates: list = []

        def while_scoring(pooled: list) -> None:  # work that does not depend on the scores
            candidates[:] = [candidate_msg(p.index, p.policy_provider, p.policy_candidate_index,
                                           candidate_trajectory_msg(p.candidate.trajectory),
                                           feasible=p.candidate.feasible, violations=p.candidate.violations,
                                           raw_shape=p.candidate.raw_shape, raw_digest=p.candidate.raw_digest)
                             for p in pooled]

        outcome = await self.core.plan(settings, observation, ask_policies, ask_scorer, run_id=self.run_id,
                                       request_id=request_id, replies=replies, while_scoring=while_scoring)
        recorded_from = time.perf_counter()
        plan = outcome.plan
        for msg, c in zip(candidates, plan.candidates):
            msg.score = score_value(c.score)
        self._after_reply.put(self._publish_record, plan, candidates)
        stages = dict(outcome.stages_ms, record=round((time.perf_counter() - recorded_from) * 1000.0, 3))
        return plan, candidates, stages

    def _publish_record(self, plan: PlanData, candidates: list) -> None:
        self._plans_pub.publish(plan_record_msg(plan, candidates))

    def _emit(self, phase: str, started: float, request_id: str, meta: dict, message: str) -> ProviderEventMsg:
        ev = ProviderEvent.build("planner", "plan", phase, method="PLAN", target=names.PLAN_SERVICE,
                                 duration_ms=(time.monotonic() - started) * 1000.0, message=message, metadata=meta,
                                 run_id=self.run_id, request_id=request_id)
        with self._chain_lock:
            msg = event_to_msg(self._chain.stamp(ev))
            self._after_reply.put(self._events_pub.publish, msg)  # queued in chain order
        return msg


def main(argv: list[str] | None = None) -> int:
    return run_node("planner_node", PlannerNode, argv, threads=2)


if __name__ == "__main__":
    sys.exit(main())
