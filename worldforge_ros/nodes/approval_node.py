"""approval_node: the operator-approval gate in front of the host controller, and the owner of the evidence bag.

Serves ``/worldforge/approve`` and the ``/worldforge/execute`` action. Execution is disabled unless
``execution_enabled:=true`` AND the controller is reachable AND a valid approval exists; dry-run records what
would have been sent and sends nothing. Every decision is written (and fsynced) to the bag before it takes
effect: no recorder, no approval, no motion.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import Any

import numpy as np
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import JointState
from unique_identifier_msgs.msg import UUID

from worldforge_ros.core.approval import ApprovablePlan, ApprovalGate, CHECKLIST
from worldforge_ros.core.digests import digest_json, is_digest
from worldforge_ros.core.errors import ErrorCode, EvidenceError, WorldForgeRosError
from worldforge_ros.core.parameters import ParamSpec
from worldforge_ros.core.plan import PlanData
from worldforge_ros.core.redaction import redact_text
from worldforge_ros.msg import ApprovalRecord, ExecutionRecord, PlanRecord
from worldforge_ros.msg import ProviderEvent as ProviderEventMsg
from worldforge_ros.core.translator_registry import TranslatorRegistry
from worldforge_ros.nodes.control_types import follow_joint_trajectory_type
from worldforge_ros.nodes.conversions import joint_state_arrays, ns_to_time, seconds_to_duration
from worldforge_ros.nodes.evidence_qos import APPROVALS_QOS, EVENTS_QOS, EXECUTIONS_QOS, PLANS_QOS
from worldforge_ros.nodes.params import declare_and_validate
from worldforge_ros.nodes.spin import NESTED_CALL_THREADS, run_node
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
    ParamSpec("controller_action", "/joint_trajectory_controller/follow_joint_trajectory",
              "FollowJointTrajectory action of the host controller.", read_only=True, non_empty=True),
    ParamSpec("controller_action_type", "auto", "auto (control_msgs when importable), control_msgs or worldforge_ros.",
              read_only=True, choices=("auto", "control_msgs", "worldforge_ros")),
    ParamSpec("controller_wait_s", 3.0, "How long execute waits for the controller to be discovered.",
              min_value=0.0, max_value=60.0),
    ParamSpec("approval_ttl_s", 120.0, "Lifetime of an approval (requests may ask for less, never more).",
              min_value=1.0, max_value=86400.0),
    ParamSpec("start_tolerance", 0.01, "Allowed max |live - approved start| per joint at execute time (rad or m).",
              min_value=0.0, max_value=1.0),
    ParamSpec("max_joint_state_age_s", 1.0, "Reject execution when /joint_states is older than this.",
              min_value=0.01),
    ParamSpec("joint_states_topic", "/joint_states", "Live joint state used for the start-state re-check.",
              read_only=True),
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
)


class ApprovalNode(Node):
    def __init__(self, node_name: str = "approval", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.p = declare_and_validate(self, PARAMS)
        self.gate = ApprovalGate(translators=TranslatorRegistry.from_config(self.p["embodiments_file"] or None),
                                 default_ttl_s=self.p["approval_ttl_s"], start_tolerance=self.p["start_tolerance"])
        self.recorder: EvidenceRecorder | None = None
        if self.p["record_evidence"]:
            try:
                self.recorder = EvidenceRecorder(self, self.p["evidence_dir"], run_id=self.p["run_id"] or None)
            except EvidenceError as err:  # no recorder: the gate stays up but refuses everything (fail closed)
                self.get_logger().error(f"{err}: approvals and executions will be refused")
        self.run_id = self.recorder.run_id if self.recorder else ""
        self._live: tuple[tuple[str, ...], np.ndarray, int] | None = None
        self._live_lock = threading.Lock()
        self._stopping = threading.Event()
        self._in_flight = 0
        self._in_flight_lock = threading.Condition()
        self._records_pub_a = self.create_publisher(ApprovalRecord, "/worldforge/approvals", APPROVALS_QOS)
        self._records_pub_e = self.create_publisher(ExecutionRecord, "/worldforge/executions", EXECUTIONS_QOS)
        self._serial = MutuallyExclusiveCallbackGroup()
        self._reentrant = ReentrantCallbackGroup()
        self.create_subscription(PlanRecord, "/worldforge/plans", self._on_plan_raw, PLANS_QOS, raw=True,
                                 callback_group=self._serial)
        self.create_subscription(ProviderEventMsg, "/worldforge/events", self._on_event_raw, EVENTS_QOS, raw=True,
                                 callback_group=self._serial)
        self.create_subscription(JointState, self.p["joint_states_topic"], self._on_joint_state, 10,
                                 callback_group=self._reentrant)
        self.create_service(Approve, "/worldforge/approve", self._on_approve, callback_group=self._serial)
        self.controller_type, self.controller_type_name = follow_joint_trajectory_type(self.p["controller_action_type"])
        self._controller = ActionClient(self, self.controller_type, self.p["controller_action"],
                                        callback_group=self._reentrant)
        self._server = ActionServer(self, ExecutePlan, "/worldforge/execute", self._execute,
                                    goal_callback=lambda _g: GoalResponse.ACCEPT,
                                    cancel_callback=lambda _g: CancelResponse.ACCEPT, callback_group=self._reentrant)
        mode = "EXECUTION ENABLED" if self.p["execution_enabled"] else "dry-run (execution_enabled:=false)"
        self.get_logger().info(f"approval gate up: {mode}; controller {self.p['controller_action']} "
                               f"({self.controller_type_name}); evidence run {self.run_id or 'DISABLED'}")

    # ---- inputs ---------------------------------------------------------------------------------------------
    def _now_ns(self) -> int:
        return time.time_ns()

    def _record(self, topic: str, msgtype: str, msg: Any = None, raw: bytes | None = None, sync: bool = False) -> None:
        if self.recorder is None:
            raise EvidenceError("no evidence recorder: refusing (fail closed)", ErrorCode.RECORDER_UNAVAILABLE)
        self.recorder.record(topic, msgtype, raw if raw is not None else serialize_message(msg), sync=sync)

    def _on_plan_raw(self, raw: bytes) -> None:
        try:
            msg = deserialize_message(raw, PlanRecord)
            if self.recorder is not None:
                self._record("/worldforge/plans", "worldforge_ros/msg/PlanRecord", raw=raw)
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
            self.get_logger().error(f"plan not registered: {exc}")

    def _on_event_raw(self, raw: bytes) -> None:
        try:
            if self.recorder is not None:
                self._record("/worldforge/events", "worldforge_ros/msg/ProviderEvent", raw=raw)
        except Exception as exc:
            self.get_logger().error(f"event not recorded: {exc}")

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            names, pos, _ = joint_state_arrays(msg)
        except WorldForgeRosError:
            return
        with self._live_lock:
            self._live = (names, pos, time.monotonic_ns())

    # ---- approve --------------------------------------------------------------------------------------------
    def _on_approve(self, request: Approve.Request, response: Approve.Response) -> Approve.Response:
        now = self._now_ns()
        rec = ApprovalRecord(plan_digest=recordable_digest(request.plan_digest),
                             operator_id=redact_text(request.operator_id), note=redact_text(request.note),
                             run_id=self.run_id, execution_enabled=self.p["execution_enabled"],
                             worldforge_certifies_robot_safety=False, approved_at=ns_to_time(now))
        for item in CHECKLIST:
            setattr(rec, item, bool(getattr(request, item)))
        response.execution_enabled = self.p["execution_enabled"]
        try:
            if self.recorder is None:
                raise EvidenceError("no evidence recorder: approvals are refused (fail closed)",
                                    ErrorCode.RECORDER_UNAVAILABLE)
            if not request.approve:
                raise WorldForgeRosError("operator refused the plan", ErrorCode.APPROVAL_REFUSED)
            approval = self.gate.approve(request.plan_digest, request.operator_id,
                                         {i: getattr(request, i) for i in CHECKLIST}, now, request.note, request.ttl_s)
            plan = approval.plan
            rec.approval_id, rec.plan_id, rec.approved = approval.approval_id, plan.plan_id, True
            rec.start_state.name = list(plan.start_names)
            rec.start_state.position = [float(v) for v in plan.start_positions]
            rec.start_tolerance = approval.tolerance
            rec.expires_at = ns_to_time(approval.expires_at_ns)
            self._record("/worldforge/approvals", "worldforge_ros/msg/ApprovalRecord", rec, sync=True)
            response.accepted, response.error_code = True, 0
            response.approval_id, response.expires_at = approval.approval_id, rec.expires_at
        except Exception as exc:
            err = exc if isinstance(exc, WorldForgeRosError) else EvidenceError(str(exc), ErrorCode.RECORDER_WRITE_FAILED)
            rec.error_code, rec.error_message = int(err.code), str(err)
            response.accepted, response.error_code, response.error_message = False, int(err.code), str(err)
            if self.recorder is not None and err.code.category != "evidence":
                try:
                    self._record("/worldforge/approvals", "worldforge_ros/msg/ApprovalRecord", rec, sync=True)
                except Exception as rec_exc:
                    response.error_code, response.error_message = int(ErrorCode.RECORDER_WRITE_FAILED), str(rec_exc)
        self._records_pub_a.publish(rec)
        return response

    # ---- execute --------------------------------------------------------------------------------------------
    def _execute(self, goal_handle: Any) -> ExecutePlan.Result:
        with self._in_flight_lock:
            self._in_flight += 1
        try:
            return self._execute_checked(goal_handle)
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1
                self._in_flight_lock.notify_all()

    def _execute_checked(self, goal_handle: Any) -> ExecutePlan.Result:
        req = goal_handle.request
        result = ExecutePlan.Result(dry_run=not self.p["execution_enabled"])
        rec = ExecutionRecord(approval_id=redact_text(req.approval_id), plan_digest=recordable_digest(req.plan_digest),
                              run_id=self.run_id,
                              dry_run=result.dry_run, controller_action=self.p["controller_action"])
        try:
            if self.recorder is None:
                raise EvidenceError("no evidence recorder: execution refused (fail closed)",
                                    ErrorCode.RECORDER_UNAVAILABLE)
            names, live, _age = self._live_state()
            ticket = self.gate.begin_execution(req.approval_id, req.plan_digest, names, live, self._now_ns())
            plan = ticket.approval.plan
            rec.execution_id = result.execution_id = ticket.execution_id
            rec.live_state.name, rec.live_state.position = list(names), [float(v) for v in live]
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
            if not self._controller.wait_for_server(timeout_sec=self.p["controller_wait_s"]):
                raise WorldForgeRosError(f"controller {self.p['controller_action']} is not reachable",
                                         ErrorCode.CONTROLLER_UNAVAILABLE)
            rec.phase = ExecutionRecord.PHASE_INTENT
            self._write_execution(rec)  # recorded (fsynced) before anything moves
            self._forward(goal_handle, goal, rec, result)
        except Exception as exc:
            err = exc if isinstance(exc, WorldForgeRosError) else EvidenceError(str(exc), ErrorCode.RECORDER_WRITE_FAILED)
            result.error_code, result.error_string = int(err.code), str(err)
            rec.phase, rec.error_code, rec.error_message = ExecutionRecord.PHASE_REJECTED, int(err.code), str(err)
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
        if live is None:
            raise WorldForgeRosError(f"no joint state on {self.p['joint_states_topic']}", ErrorCode.START_STATE_DRIFT)
        age = (time.monotonic_ns() - live[2]) / 1e9
        if age > self.p["max_joint_state_age_s"]:
            raise WorldForgeRosError(f"joint state is {age:.2f}s old (max {self.p['max_joint_state_age_s']}s)",
                                     ErrorCode.START_STATE_DRIFT)
        return live[0], live[1], age

    def _controller_goal(self, plan: ApprovablePlan) -> Any:
        from worldforge_ros.nodes.conversions import trajectory_to_msg

        goal = self.controller_type.Goal()
        goal.trajectory = trajectory_to_msg(plan.joint_names, plan.positions, plan.velocities, plan.times_s)
        goal.goal_time_tolerance = seconds_to_duration(self.p["goal_time_tolerance_s"])
        return goal

    def _write_execution(self, rec: ExecutionRecord) -> None:
        rec.stamp = ns_to_time(self._now_ns())
        self._record("/worldforge/executions", "worldforge_ros/msg/ExecutionRecord", rec, sync=True)
        self._records_pub_e.publish(rec)

    def _forward(self, goal_handle: Any, goal: Any, rec: ExecutionRecord, result: ExecutePlan.Result) -> None:
        def on_feedback(fb_msg: Any) -> None:
            fb = fb_msg.feedback
            goal_handle.publish_feedback(ExecutePlan.Feedback(header=fb.header, joint_names=fb.joint_names,
                                                              desired=fb.desired, actual=fb.actual, error=fb.error))

        goal_uuid = uuid.uuid4()
        goal_id = UUID(uuid=list(goal_uuid.bytes))
        reply = self._controller.send_goal_async(goal, feedback_callback=on_feedback, goal_uuid=goal_id)
        sent = self._wait(reply, self.p["controller_reply_timeout_s"])
        if sent is None:
            self._cancel_unanswered(reply, goal_id, goal_uuid.hex)
            raise WorldForgeRosError(
                f"controller did not answer the goal within {self.p['controller_reply_timeout_s']:g} s; a cancel "
                f"was sent for goal {goal_uuid.hex} (it may have started: check the robot)",
                ErrorCode.CONTROLLER_NO_REPLY)
        if not sent.accepted:
            raise WorldForgeRosError("controller rejected the goal", ErrorCode.CONTROLLER_REJECTED)
        result_future = sent.get_result_async()
        canceled = False
        end = goal.trajectory.points[-1].time_from_start
        limit = time.monotonic() + end.sec + end.nanosec * 1e-9 + self.p["goal_time_tolerance_s"] + \
            self.p["result_timeout_s"]
        while not result_future.done():
            if (goal_handle.is_cancel_requested or self._stopping.is_set()) and not canceled:
                canceled = True
                limit = min(limit, time.monotonic() + 5.0)
                self._wait(sent.cancel_goal_async(), 5.0)
            if time.monotonic() > limit:
                if not canceled:
                    sent.cancel_goal_async()  # the goal may still be running: never leave it behind
                raise WorldForgeRosError("no result from the controller in time" + (" after cancel" if canceled else ""),
                                         ErrorCode.CONTROLLER_ABORTED)
            time.sleep(0.01)
        ctrl = result_future.result()
        rec.controller_error_code = result.controller_error_code = int(ctrl.result.error_code)
        rec.controller_error_string = ctrl.result.error_string
        if canceled:
            rec.phase, rec.error_code = ExecutionRecord.PHASE_CANCELED, int(ErrorCode.EXECUTION_CANCELED)
            rec.error_message = "canceled by the operator; cancel forwarded to the controller"
            self._write_execution(rec)
            result.error_code, result.error_string = rec.error_code, rec.error_message
            goal_handle.canceled()
            return
        if ctrl.result.error_code == 0 and ctrl.status == 4:  # SUCCEEDED
            rec.phase = ExecutionRecord.PHASE_SUCCEEDED
            self._write_execution(rec)
            result.executed = True
            goal_handle.succeed()
            return
        rec.phase, rec.error_code = ExecutionRecord.PHASE_ABORTED, int(ErrorCode.CONTROLLER_ABORTED)
        rec.error_message = f"controller aborted ({ctrl.result.error_code}): {ctrl.result.error_string}"
        self._write_execution(rec)
        result.error_code, result.error_string = rec.error_code, rec.error_message
        goal_handle.abort()

    def _cancel_unanswered(self, reply: Any, goal_id: UUID, goal_hex: str) -> None:
        """Cancel a goal whose accept/reject reply never came: now by its id, and again if it is accepted late."""
        from rclpy.action.client import ClientGoalHandle

        unanswered = ClientGoalHandle(self._controller, goal_id, self.controller_type.Impl.SendGoalService.Response())
        unanswered.cancel_goal_async()  # the reply may be lost while the controller runs the goal

        def on_late_reply(future: Any) -> None:
            handle = None if future.cancelled() or future.exception() is not None else future.result()
            if handle is not None and handle.accepted:
                self.get_logger().error(f"controller accepted goal {goal_hex} after the reply "
                                        "timeout: canceling it")
                handle.cancel_goal_async()

        reply.add_done_callback(on_late_reply)

    @staticmethod
    def _wait(future: Any, timeout: float) -> Any:
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        return future.result() if done.wait(timeout) else None

    def destroy_node(self) -> None:
        # Stop forwarding (cancels a running controller goal), let in-flight executions record their outcome,
        # then close the bag (metadata.yaml with the chain head).
        self._stopping.set()
        with self._in_flight_lock:
            self._in_flight_lock.wait_for(lambda: self._in_flight == 0, timeout=5.0)
        if self.recorder is not None:
            self.recorder.close()
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    return run_node("approval_node", ApprovalNode, argv, threads=NESTED_CALL_THREADS)


if __name__ == "__main__":
    sys.exit(main())
