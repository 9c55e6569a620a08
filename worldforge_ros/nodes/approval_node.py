"""approval_node: the operator-approval gate in front of the host controller, and the owner of the evidence bag.

Serves ``worldforge/approve`` and the ``worldforge/execute`` action (relative names: they follow the namespace).
Execution is disabled unless ``execution_enabled:=true`` AND the controller is reachable and unambiguous AND a
valid approval exists; dry-run records what would have been sent and sends nothing. Every decision is written
(and fsynced) to the bag before it takes effect: no recorder, no approval, no motion. Plans and events are taken
only from the graph's own planner and providers (:mod:`.record_sources`): a replayed bag never arms the gate.
Execution is an ``async`` callback: waiting for the controller never holds an executor thread.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from rclpy.task import Future
from sensor_msgs.msg import JointState

from worldforge_ros.core.approval import ApprovablePlan, ApprovalGate, CHECKLIST
from worldforge_ros.core.digests import digest_json, is_digest
from worldforge_ros.core import names
from worldforge_ros.evidence import topics as bag_topics
from worldforge_ros.core.errors import ApprovalError, ErrorCode, EvidenceError, WorldForgeRosError, as_typed
from worldforge_ros.core.parameters import ParamSpec
from worldforge_ros.core.plan import PlanData
from worldforge_ros.core.redaction import redact_text
from worldforge_ros.msg import ApprovalRecord, ExecutionRecord, PlanRecord
from worldforge_ros.msg import ProviderEvent as ProviderEventMsg
from worldforge_ros.core.translator_registry import TranslatorRegistry
from worldforge_ros.nodes.control_types import follow_joint_trajectory_type
from worldforge_ros.nodes.awaiting import keep_awake, wait_until
from worldforge_ros.nodes.controller_link import ControllerLink
from worldforge_ros.nodes.conversions import (joint_state_arrays, ns_to_time, seconds_to_duration,
                                             trajectory_to_msg)
from worldforge_ros.nodes.evidence_qos import APPROVALS_QOS, EVENTS_QOS, EXECUTIONS_QOS, PLANS_QOS
from worldforge_ros.nodes.params import declare_and_validate
from worldforge_ros.nodes.plan_previews import PlanPreviews
from worldforge_ros.nodes.policy_runner import PolicyRunner
from worldforge_ros.nodes.record_sources import RecordSources
from worldforge_ros.nodes.spin import destroy_actions, run_node
from worldforge_ros.nodes.recorder import EvidenceRecorder
from worldforge_ros.action import ExecutePlan
from worldforge_ros.srv import Approve


def recordable_digest(text: str) -> str:
    """A caller-given digest as it may be recorded: itself when well-formed, else a value-free marker (callers
    paste the wrong thing into fields; a token must not reach the bag that way)."""
    return text if is_digest(text) else f"[malformed digest: {len(text)} chars]"


PARAMS = (
    ParamSpec("execution_enabled", False, "Forward approved plans to the controller (false = dry-run records only).",
              read_only=True),
    ParamSpec("controller_action", names.REAL_CONTROLLER_ACTION,
              "FollowJointTrajectory action of the host controller (relative names follow the namespace).",
              read_only=True, non_empty=True),
    ParamSpec("controller_action_type", "auto", "auto (control_msgs when importable), control_msgs or worldforge_ros.",
              read_only=True, choices=("auto", "control_msgs", "worldforge_ros")),
    ParamSpec("controller_wait_s", 3.0, "How long execute waits for the controller to be discovered.",
              min_value=0.0, max_value=60.0),
    ParamSpec("plan_arrival_s", 2.0,
              "How long an approval naming a plan the gate has not received yet waits for its record on "
              "worldforge/plans (the planner publishes it right after its reply, and DDS does not order a topic "
              "against a service call); then UNKNOWN_PLAN. 0: refuse at once.", min_value=0.0, max_value=30.0),
    ParamSpec("approval_ttl_s", 120.0, "Lifetime of an approval (requests may ask for less, never more).",
              min_value=1.0, max_value=86400.0),
    ParamSpec("start_tolerance", 0.01, "Allowed max |live - approved start| per joint at execute time (rad or m).",
              min_value=0.0, max_value=1.0),
    ParamSpec("max_joint_state_age_s", 1.0, "Reject execution when /joint_states is older than this.",
              min_value=0.01),
    ParamSpec("joint_states_topic", names.JOINT_STATES_TOPIC,
              "Live joint state used for the start-state re-check (relative: follows the namespace).", read_only=True),
    ParamSpec("plan_publishers", [names.PLANNER_NODE],
              "Node names (patterns, in this node's namespace) whose plans may be approved; anything else on the "
              "plans topic (ros2 bag play, evidence replay) is ignored.", read_only=True, non_empty=True),
    ParamSpec("event_publishers", [names.PLANNER_NODE, names.PROVIDER_NODE_PREFIX + "*"],
              "Node names (patterns, in this node's namespace) whose events are recorded.", read_only=True,
              non_empty=True),
    ParamSpec("embodiments_file", "", "Embodiments YAML with joint limits (empty = the package's config).",
              read_only=True),
    ParamSpec("evidence_dir", "evidence", "Root of run workspaces (<dir>/runs/<run-id>/bag).", read_only=True),
    ParamSpec("run_id", "", "Run id of the evidence workspace (empty: a new one; bringup/launch share one per graph).",
              read_only=True),
    ParamSpec("record_evidence", True, "Own the evidence bag (false only for tests of the fail-closed path).",
              read_only=True),
    ParamSpec("goal_time_tolerance_s", 0.5, "goal_time_tolerance sent to the controller.", min_value=0.0),
    ParamSpec("controller_reply_timeout_s", 10.0,
              "How long execute waits for the controller to accept or reject the goal. Without a reply the goal "
              "may still have started, so a cancel is sent for its goal id (and again if it is accepted late).",
              min_value=0.1, max_value=120.0),
    ParamSpec("result_timeout_s", 30.0, "Extra time past the trajectory's end to wait for the controller's result.",
              min_value=1.0),
    ParamSpec("previews", False,
              "Render each registered plan's candidates (end pose) and the selected one (a 4-frame strip) from the "
              "MuJoCo scene's front camera into <run>/previews/<plan_id>/ on a worker thread, and record their "
              "sha256 digests as a scene/preview event (no mujoco or headless GL: logged once, nothing recorded).",
              read_only=True),
)


class ApprovalNode(Node):
    def __init__(self, node_name: str = names.APPROVAL_NODE, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.p = declare_and_validate(self, PARAMS)
        self.gate = ApprovalGate(translators=TranslatorRegistry.from_config(self.p["embodiments_file"] or None),
                                 default_ttl_s=self.p["approval_ttl_s"], start_tolerance=self.p["start_tolerance"])
        self.recorder: EvidenceRecorder | None = None
        self.previews: PlanPreviews | None = None  # set before anything can fail: destroy_node reads it
        if self.p["record_evidence"]:
            try:
                self.recorder = EvidenceRecorder(self, self.p["evidence_dir"], run_id=self.p["run_id"] or None)
            except EvidenceError as err:  # no recorder: the gate stays up but refuses everything (fail closed)
                self.get_logger().error(f"{err}: approvals and executions will be refused")
        self.run_id = self.recorder.run_id if self.recorder else ""
        self._live: tuple[tuple[str, ...], np.ndarray, int] | None = None
        self._live_lock = threading.Lock()
        self._stopping = threading.Event()
        self._stop_futures: set[Future] = set()
        self._cancels: dict[bytes, Future] = {}
        self._in_flight = 0
        self._in_flight_lock = threading.Condition()
        self.ignored_records = 0
        self._records_pub_a = self.create_publisher(ApprovalRecord, names.APPROVALS_TOPIC, APPROVALS_QOS)
        self._records_pub_e = self.create_publisher(ExecutionRecord, names.EXECUTIONS_TOPIC, EXECUTIONS_QOS)
        self._serial = MutuallyExclusiveCallbackGroup()
        self._reentrant = ReentrantCallbackGroup()
        self._plan_sources = RecordSources(self, names.PLANS_TOPIC, self.p["plan_publishers"])
        self._event_sources = RecordSources(self, names.EVENTS_TOPIC, self.p["event_publishers"])
        self.create_subscription(PlanRecord, names.PLANS_TOPIC, self._on_plan_raw, PLANS_QOS, raw=True,
                                 callback_group=self._serial)
        self.create_subscription(ProviderEventMsg, names.EVENTS_TOPIC, self._on_event_raw, EVENTS_QOS, raw=True,
                                 callback_group=self._serial)
        self.create_subscription(JointState, self.p["joint_states_topic"], self._on_joint_state, 10,
                                 callback_group=self._reentrant,
                                 event_callbacks=SubscriptionEventCallbacks(matched=self._on_joint_states_matched))
        # Reentrant: an approval that waits for its plan's record must not hold the group the record arrives in.
        self.create_service(Approve, names.APPROVE_SERVICE, self._on_approve, callback_group=self._reentrant)
        self.controller_type, self.controller_type_name = follow_joint_trajectory_type(self.p["controller_action_type"])
        self.controller = ControllerLink(self, self.controller_type, self.p["controller_action"], self._reentrant,
                                         self.p["joint_states_topic"])
        self._server = ActionServer(self, ExecutePlan, names.EXECUTE_ACTION, self._execute,
                                    goal_callback=lambda _g: GoalResponse.ACCEPT,
                                    cancel_callback=self._on_cancel, callback_group=self._reentrant)
        self._wake_timer = keep_awake(self, self._reentrant)
        self.previews = PlanPreviews(self) if self.p["previews"] and self.recorder is not None else None
        self.policy_runner = PolicyRunner(self)  # worldforge/approve_envelope + worldforge/run_policy
        mode = "EXECUTION ENABLED" if self.p["execution_enabled"] else "dry-run (execution_enabled:=false)"
        self.get_logger().info(f"approval gate up: {mode}; controller {self.controller.action_name} "
                               f"({self.controller_type_name}); evidence run {self.run_id or 'DISABLED'}")

    # ---- inputs ---------------------------------------------------------------------------------------------
    def _now_ns(self) -> int:
        return time.time_ns()

    def _record(self, topic: str, msgtype: str, msg: Any = None, raw: bytes | None = None, sync: bool = False) -> None:
        if self.recorder is None:
            raise EvidenceError("no evidence recorder: refusing (fail closed)", ErrorCode.RECORDER_UNAVAILABLE)
        self.recorder.record(topic, msgtype, raw if raw is not None else serialize_message(msg), sync=sync)

    def _from_graph(self, sources: RecordSources, msg_info: Any, what: str) -> bool:
        ok, who = sources.accepts(msg_info)
        if not ok:
            self.ignored_records += 1
            self.get_logger().warning(f"ignored {what} from {who}: only {list(sources.patterns)} in "
                                      f"{sources.namespace} are taken (replayed records never arm the gate)",
                                      throttle_duration_sec=5.0)
        return ok

    def _on_plan_raw(self, raw: bytes, msg_info: Any) -> None:
        try:
            if not self._from_graph(self._plan_sources, msg_info, "a plan"):
                return
            msg = deserialize_message(raw, PlanRecord)
            if self.recorder is not None:
                self._record(bag_topics.PLANS_TOPIC, bag_topics.PLAN_RECORD_TYPE, raw=raw)
            # Execute by reference: the gate keeps the digest-verified plan JSON, never the message's copies.
            data = PlanData.from_json(msg.plan_json, expected_digest=msg.plan_digest)
            sel, traj = data.selected, data.selected.trajectory
            plan = ApprovablePlan(plan_id=data.plan_id, plan_digest=msg.plan_digest, embodiment=data.embodiment,
                                  start_names=tuple(data.start_state.joint_names),
                                  start_positions=np.asarray(data.start_state.positions, dtype=np.float64),
                                  joint_names=tuple(traj.joint_names), positions=traj.positions,
                                  velocities=traj.velocities, times_s=traj.times_s, selected_feasible=sel.feasible)
            self.gate.register_plan(plan, msg.plan_json)
        except Exception as exc:  # never a traceback out of a callback
            self.get_logger().error(f"plan not registered: {as_typed(exc)}")
            return
        if self.previews is not None:
            self.previews.queue(data, msg.plan_digest)

    def _on_event_raw(self, raw: bytes, msg_info: Any) -> None:
        if self._stopping.is_set():  # the bag is being closed: late events belong to no decision of this run
            return
        try:
            if self.previews is not None and self._event_sources.publisher(msg_info) == \
                    ((self.get_namespace().rstrip("/") or "/"), self.get_name()):
                return  # this gate's own preview event: recorded when it was published
            if self.recorder is not None and self._from_graph(self._event_sources, msg_info, "an event"):
                self._record(bag_topics.EVENTS_TOPIC, bag_topics.PROVIDER_EVENT_TYPE, raw=raw)
        except Exception as exc:
            self.get_logger().error(f"event not recorded: {as_typed(exc)}")

    def _on_joint_states_matched(self, info: Any) -> None:
        """Say so as soon as a second joint-states publisher appears (execution will be refused while both
        report the same joints; see ControllerLink.ambiguity)."""
        if info.current_count > 1 and info.current_count_change > 0:
            topic = self.resolve_topic_name(self.p["joint_states_topic"])
            self.get_logger().warning(f"{info.current_count} publishers on {topic}: executions are refused "
                                      "(CONTROLLER_AMBIGUOUS) while more than one reports the planned joints")

    def _on_joint_state(self, msg: JointState, msg_info: Any) -> None:
        try:
            names_, pos, _ = joint_state_arrays(msg)
        except WorldForgeRosError:
            return
        self.controller.note_joint_state(names_, msg_info)
        with self._live_lock:
            self._live = (names_, pos, time.monotonic_ns())

    # ---- approve --------------------------------------------------------------------------------------------
    async def _on_approve(self, request: Approve.Request, response: Approve.Response) -> Approve.Response:
        if request.approve and is_digest(request.plan_digest) and self.gate.plan(request.plan_digest) is None:
            await wait_until(self, lambda: self.gate.plan(request.plan_digest) is not None,
                             time.monotonic() + self.p["plan_arrival_s"], self._reentrant, period=0.01)
        now = self._now_ns()
        rec = self.decision_record(ApprovalRecord, request, response, now,
                                   plan_digest=recordable_digest(request.plan_digest))
        try:
            self.require_recorder()
            if not request.approve:
                raise ApprovalError("operator refused the plan", ErrorCode.APPROVAL_REFUSED)
            approval = self.gate.approve(request.plan_digest, request.operator_id,
                                         {i: getattr(request, i) for i in CHECKLIST}, now, request.note, request.ttl_s)
            plan = approval.plan
            rec.approval_id, rec.plan_id, rec.approved = approval.approval_id, plan.plan_id, True
            rec.start_state.name = list(plan.start_names)
            rec.start_state.position = [float(v) for v in plan.start_positions]
            rec.start_tolerance = approval.tolerance
            rec.expires_at = ns_to_time(approval.expires_at_ns)
            self._record(bag_topics.APPROVALS_TOPIC, bag_topics.APPROVAL_RECORD_TYPE, rec, sync=True)
            response.accepted, response.error_code = True, 0
            response.approval_id, response.expires_at = approval.approval_id, rec.expires_at
        except Exception as exc:  # the one error boundary of approve
            self.record_refusal(exc, rec, response, bag_topics.APPROVALS_TOPIC, bag_topics.APPROVAL_RECORD_TYPE)
        self._records_pub_a.publish(rec)
        return response

    def decision_record(self, record_type: Any, request: Any, response: Any, now_ns: int, **fields: Any) -> Any:
        """The record of an operator decision (approve, approve_envelope): who, the note (redacted), the run, the
        dry-run switch and the checklist as the operator answered it; the response says the switch too."""
        rec = record_type(operator_id=redact_text(request.operator_id), note=redact_text(request.note),
                          run_id=self.run_id, execution_enabled=self.p["execution_enabled"],
                          worldforge_certifies_robot_safety=False, approved_at=ns_to_time(now_ns), **fields)
        for item in CHECKLIST:
            setattr(rec, item, bool(getattr(request, item)))
        response.execution_enabled = self.p["execution_enabled"]
        return rec

    def require_recorder(self) -> None:
        """Decisions and runs fail closed without an evidence recorder."""
        if self.recorder is None:
            raise EvidenceError("no evidence recorder: decisions and runs are refused (fail closed)",
                                ErrorCode.RECORDER_UNAVAILABLE)

    def record_refusal(self, exc: BaseException, rec: Any, response: Any, topic: str, msgtype: str) -> None:
        """The error boundary of a decision service (approve, approve_envelope): the typed error goes into the
        record and the response, and the refusal is recorded unless the recorder itself is what failed."""
        err = as_typed(exc)
        rec.error_code, rec.error_message = int(err.code), redact_text(str(err))
        response.accepted, response.error_code, response.error_message = False, int(err.code), rec.error_message
        if self.recorder is not None and err.code.category != "evidence":
            try:
                self._record(topic, msgtype, rec, sync=True)
            except Exception as rec_exc:
                response.error_code = int(ErrorCode.RECORDER_WRITE_FAILED)
                response.error_message = redact_text(str(rec_exc))

    # ---- execute --------------------------------------------------------------------------------------------
    def _on_cancel(self, goal_handle: Any) -> CancelResponse:
        fut = self._cancels.get(bytes(goal_handle.goal_id.uuid))
        if fut is not None and not fut.done():
            fut.set_result(True)
        return CancelResponse.ACCEPT

    async def _execute(self, goal_handle: Any) -> ExecutePlan.Result:
        with self._in_flight_lock:
            self._in_flight += 1
        key = bytes(goal_handle.goal_id.uuid)
        stop = Future(executor=self.executor)
        self._cancels[key] = stop
        self._stop_futures.add(stop)
        if self._stopping.is_set():
            stop.set_result(True)
        try:
            return await self._execute_checked(goal_handle, stop)
        finally:
            self._cancels.pop(key, None)
            self._stop_futures.discard(stop)
            with self._in_flight_lock:
                self._in_flight -= 1
                self._in_flight_lock.notify_all()

    async def _execute_checked(self, goal_handle: Any, stop: Future) -> ExecutePlan.Result:
        req = goal_handle.request
        result = ExecutePlan.Result(dry_run=not self.p["execution_enabled"], controller_action=self.controller.action_name,
                                    controller_type=self.controller_type_name)
        rec = ExecutionRecord(approval_id=redact_text(req.approval_id), plan_digest=recordable_digest(req.plan_digest),
                              run_id=self.run_id, dry_run=result.dry_run, controller_action=self.controller.action_name)
        try:
            if self.recorder is None:
                raise EvidenceError("no evidence recorder: execution refused (fail closed)",
                                    ErrorCode.RECORDER_UNAVAILABLE)
            names_, live, _age = self._live_state()
            ticket = self.gate.begin_execution(req.approval_id, req.plan_digest, names_, live, self._now_ns())
            plan = ticket.approval.plan
            rec.execution_id = result.execution_id = ticket.execution_id
            rec.live_state.name, rec.live_state.position = list(names_), [float(v) for v in live]
            rec.start_deviation = ticket.start_deviation
            goal = self._controller_goal(plan)
            rec.trajectory = goal.trajectory
            rec.trajectory_digest = digest_json({"names": list(plan.joint_names), "positions": plan.positions,
                                                 "velocities": plan.velocities, "times_s": plan.times_s})
            if not self.p["execution_enabled"]:
                rec.phase = ExecutionRecord.PHASE_DRY_RUN
                rec.error_message = "dry-run: execution_enabled is false; recorded what would have been sent"
                self._write_execution(rec)
                result.error_string = rec.error_message
                goal_handle.succeed()
                return result
            if not await self.controller.wait_ready(self.p["controller_wait_s"]):
                raise ApprovalError(f"controller {self.controller.action_name} ({self.controller_type_name}) is not "
                                    "reachable", ErrorCode.CONTROLLER_UNAVAILABLE)
            ambiguous = self.controller.ambiguity(plan.joint_names)
            if ambiguous:
                raise ApprovalError(f"refusing to execute: {ambiguous} (a simulator or second controller next to "
                                    "the robot?)", ErrorCode.CONTROLLER_AMBIGUOUS)
            rec.phase = ExecutionRecord.PHASE_INTENT
            self._write_execution(rec)  # recorded (fsynced) before anything moves
            await self._forward(goal_handle, goal, rec, result, stop)
        except Exception as exc:  # the one error boundary of execute
            err = as_typed(exc)
            result.error_code, result.error_string = int(err.code), redact_text(str(err))
            rec.phase, rec.error_code, rec.error_message = ExecutionRecord.PHASE_REJECTED, int(err.code), \
                result.error_string
            if self.recorder is not None and err.code.category != "evidence":
                try:
                    self._write_execution(rec)
                except Exception as rec_exc:
                    self.get_logger().error(f"execution outcome not recorded: {rec_exc}")
            else:
                self._records_pub_e.publish(rec)
            goal_handle.abort()
        return result

    def _live_state(self) -> tuple[tuple[str, ...], np.ndarray, float]:
        with self._live_lock:
            live = self._live
        topic = self.resolve_topic_name(self.p["joint_states_topic"])
        if live is None:
            raise ApprovalError(f"no joint state received on {topic}: the start state cannot be checked",
                                ErrorCode.JOINT_STATE_MISSING)
        age = (time.monotonic_ns() - live[2]) / 1e9
        if age > self.p["max_joint_state_age_s"]:
            raise ApprovalError(f"joint state on {topic} is {age:.2f}s old (max {self.p['max_joint_state_age_s']}s): "
                                "the start state cannot be checked", ErrorCode.JOINT_STATE_STALE)
        return live[0], live[1], age

    def _controller_goal(self, plan: ApprovablePlan) -> Any:
        goal = self.controller_type.Goal()
        goal.trajectory = trajectory_to_msg(plan.joint_names, plan.positions, plan.velocities, plan.times_s)
        goal.goal_time_tolerance = seconds_to_duration(self.p["goal_time_tolerance_s"])
        return goal

    def _write_execution(self, rec: ExecutionRecord) -> None:
        rec.stamp = ns_to_time(self._now_ns())
        self._record(bag_topics.EXECUTIONS_TOPIC, bag_topics.EXECUTION_RECORD_TYPE, rec, sync=True)
        self._records_pub_e.publish(rec)

    async def _forward(self, goal_handle: Any, goal: Any, rec: ExecutionRecord, result: ExecutePlan.Result,
                       stop: Future) -> None:
        def on_feedback(fb: Any) -> None:
            goal_handle.publish_feedback(ExecutePlan.Feedback(header=fb.header, joint_names=fb.joint_names,
                                                              desired=fb.desired, actual=fb.actual, error=fb.error))

        end = goal.trajectory.points[-1].time_from_start
        budget = end.sec + end.nanosec * 1e-9 + self.p["goal_time_tolerance_s"] + self.p["result_timeout_s"]
        outcome = await self.controller.run(goal, self.p["controller_reply_timeout_s"], budget, stop, on_feedback)
        rec.controller_error_code = result.controller_error_code = outcome.error_code
        rec.controller_error_string = outcome.error_string
        if outcome.canceled:
            by_operator = goal_handle.is_cancel_requested
            rec.phase, rec.error_code = ExecutionRecord.PHASE_CANCELED, int(ErrorCode.EXECUTION_CANCELED)
            rec.error_message = ("canceled by the operator" if by_operator else "the gate is shutting down") + \
                "; cancel forwarded to the controller"
            self._write_execution(rec)
            result.error_code, result.error_string = rec.error_code, rec.error_message
            if by_operator:
                goal_handle.canceled()
            else:  # no client asked to cancel: the action's state machine only allows abort here
                goal_handle.abort()
            return
        if outcome.succeeded:
            rec.phase = ExecutionRecord.PHASE_SUCCEEDED
            self._write_execution(rec)
            result.executed = True
            goal_handle.succeed()
            return
        rec.phase, rec.error_code = ExecutionRecord.PHASE_ABORTED, int(ErrorCode.CONTROLLER_ABORTED)
        rec.error_message = f"controller aborted ({outcome.error_code}): {outcome.error_string}"
        self._write_execution(rec)
        result.error_code, result.error_string = rec.error_code, rec.error_message
        goal_handle.abort()

    def destroy_node(self) -> None:
        # Stop forwarding (cancels a running controller goal), let in-flight executions record their outcome,
        # then close the bag (metadata.yaml with the chain head).
        self._stopping.set()
        for fut in list(self._stop_futures):
            if not fut.done():
                fut.set_result(True)
        executor = self.executor
        if self._in_flight and executor is not None and self.context.ok():
            # The executor no longer spins: drive it until the in-flight executions have canceled their
            # controller goals and recorded how they ended (at most 5 s).
            deadline = time.monotonic() + 5.0
            try:
                while self._in_flight and time.monotonic() < deadline:
                    executor.spin_once(timeout_sec=0.05)
            except Exception as exc:  # a shut-down context or executor: nothing more can be sent
                self.get_logger().warning(f"shutdown with executions in flight: {exc}")
        with self._in_flight_lock:
            self._in_flight_lock.wait_for(lambda: self._in_flight == 0, timeout=1.0)
        if self.previews is not None:  # a preview still rendering records nothing (_stopping is set)
            self.previews.close()
        if self.recorder is not None:
            self.recorder.close()
        destroy_actions(self)
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    return run_node("approval_node", ApprovalNode, argv, threads=2)


if __name__ == "__main__":
    sys.exit(main())
