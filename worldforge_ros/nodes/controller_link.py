"""The gate's link to the host's FollowJointTrajectory controller: send one goal, await its reply and result,
forward feedback and cancel, and never leave a goal running that nobody watches. All waits are awaited
(``nodes.awaiting``), so an execution never holds an executor thread."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from rclpy.action.client import ClientGoalHandle
from rclpy.task import Future
from unique_identifier_msgs.msg import UUID

from worldforge_ros.core.errors import ApprovalError, ErrorCode
from worldforge_ros.nodes.awaiting import wait_for, wait_one, wait_until

CANCEL_WAIT_S = 5.0


@dataclass
class ControllerOutcome:
    """How a forwarded goal ended: ``status`` is a GoalStatus constant, ``error_code``/``error_string`` the
    controller's result fields; ``canceled`` when the gate canceled it (operator or shutdown)."""

    status: int
    error_code: int
    error_string: str
    canceled: bool

    @property
    def succeeded(self) -> bool:
        return not self.canceled and self.status == GoalStatus.STATUS_SUCCEEDED and self.error_code == 0


class ControllerLink:
    """One action client to the controller plus the checks that it is the only one of its kind."""

    def __init__(self, node: Any, action_type: Any, action_name: str, callback_group: Any,
                 joint_states_topic: str) -> None:
        self.node = node
        self.action_type = action_type
        self.group = callback_group
        self.client = ActionClient(node, action_type, action_name, callback_group=callback_group)
        self.action_name = node.resolve_topic_name(action_name)
        self.joint_states_topic = node.resolve_topic_name(joint_states_topic)

    async def wait_ready(self, timeout_s: float) -> bool:
        return await wait_until(self.node, self.client.server_is_ready, time.monotonic() + timeout_s, self.group)

    def ambiguity(self) -> str:
        """Why the controller is ambiguous ('' when it is not): more than one server for the action, or more than
        one publisher of the joint states the start state is checked against (a sim next to a real robot)."""
        problems = []
        servers = self.node.get_publishers_info_by_topic(self.action_name + "/_action/status")
        if len(servers) > 1:
            problems.append(f"{len(servers)} servers answer {self.action_name}: " + ", ".join(
                sorted(f"{i.node_namespace.rstrip('/')}/{i.node_name}" for i in servers)))
        states = self.node.get_publishers_info_by_topic(self.joint_states_topic)
        if len(states) > 1:
            problems.append(f"{len(states)} publishers on {self.joint_states_topic}: " + ", ".join(
                sorted(f"{i.node_namespace.rstrip('/')}/{i.node_name}" for i in states)))
        return "; ".join(problems)

    async def run(self, goal: Any, reply_timeout_s: float, result_deadline_s: float, stop: Future,
                  on_feedback: Callable[[Any], None]) -> ControllerOutcome:
        """Send ``goal``; await acceptance (``reply_timeout_s``) and the result (``result_deadline_s`` after
        acceptance) or ``stop`` (operator cancel / shutdown), which cancels the controller goal."""
        goal_uuid = uuid.uuid4()
        goal_id = UUID(uuid=list(goal_uuid.bytes))
        reply = self.client.send_goal_async(goal, feedback_callback=lambda m: on_feedback(m.feedback),
                                            goal_uuid=goal_id)
        sent = await wait_one(self.node, reply, time.monotonic() + reply_timeout_s, self.group)
        if sent is None:
            self._cancel_unanswered(reply, goal_id, goal_uuid.hex)
            raise ApprovalError(
                f"controller did not answer the goal within {reply_timeout_s:g} s; a cancel was sent for goal "
                f"{goal_uuid.hex} (it may have started: check the robot)", ErrorCode.CONTROLLER_NO_REPLY)
        if not sent.accepted:
            raise ApprovalError("controller rejected the goal", ErrorCode.CONTROLLER_REJECTED)
        result_future = sent.get_result_async()
        limit = time.monotonic() + result_deadline_s
        done = await wait_for(self.node, {"result": result_future, "stop": stop}, limit, self.group, any_of=True)
        canceled = "result" not in done and "stop" in done
        if canceled:
            await wait_one(self.node, sent.cancel_goal_async(), time.monotonic() + CANCEL_WAIT_S, self.group)
            done = await wait_for(self.node, {"result": result_future}, time.monotonic() + CANCEL_WAIT_S,
                                  self.group)
        if "result" not in done:
            if not canceled:
                sent.cancel_goal_async()  # the goal may still be running: never leave it behind
            raise ApprovalError("no result from the controller in time" + (" after cancel" if canceled else ""),
                                ErrorCode.CONTROLLER_ABORTED)
        res = done["result"]
        return ControllerOutcome(int(res.status), int(res.result.error_code), res.result.error_string, canceled)

    def _cancel_unanswered(self, reply: Future, goal_id: UUID, goal_hex: str) -> None:
        """Cancel a goal whose accept/reject reply never came: now by its id, and again if it is accepted late."""
        unanswered = ClientGoalHandle(self.client, goal_id, self.action_type.Impl.SendGoalService.Response())
        unanswered.cancel_goal_async()  # the reply may be lost while the controller runs the goal

        def on_late_reply(future: Future) -> None:
            handle = None if future.cancelled() or future.exception() is not None else future.result()
            if handle is not None and handle.accepted:
                self.node.get_logger().error(f"controller accepted goal {goal_hex} after the reply timeout: "
                                             "canceling it")
                handle.cancel_goal_async()

        reply.add_done_callback(on_late_reply)
