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
from worldforge_ros.nodes.record_sources import RecordSources

CANCEL_WAIT_S = 5.0


def _label(namespace: str, name: str) -> str:
    if "_UNKNOWN_" in name:  # the endpoint is discovered, its node's name not yet
        return "a node not yet identified"
    return f"{namespace.rstrip('/')}/{name}"


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
                 joint_states_topic: str, state_window_s: float = 2.0) -> None:
        self.node = node
        self.action_type = action_type
        self.group = callback_group
        self.client = ActionClient(node, action_type, action_name, callback_group=callback_group)
        self.action_name = node.resolve_topic_name(action_name)
        self.joint_states_topic = node.resolve_topic_name(joint_states_topic)
        self.state_window_s = state_window_s
        self._state_sources: dict[bytes, tuple[frozenset, float]] = {}
        self._state_publishers = RecordSources(node, joint_states_topic, ("*",))

    def note_joint_state(self, joint_names: Any, msg_info: Any) -> None:
        """Remember which publisher (GID) reported which joints, and when."""
        gid = bytes(((msg_info or {}).get("publisher_gid") or {}).get("data") or b"")
        self._state_sources[gid] = (frozenset(joint_names), time.monotonic())

    async def wait_ready(self, timeout_s: float) -> bool:
        return await wait_until(self.node, self.client.server_is_ready, time.monotonic() + timeout_s, self.group)

    def ambiguity(self, joints: Any = ()) -> str:
        """Why the controller is ambiguous ('' when it is not): more than one server for the action, or more than
        one publisher reporting the trajectory's ``joints`` on the joint states topic within the last
        ``state_window_s`` (a simulator next to the real robot). Publishers of other joints (a gripper driver on
        the same topic) are not a conflict."""
        problems = []
        servers = self.node.get_publishers_info_by_topic(self.action_name + "/_action/status")
        if len(servers) > 1:
            problems.append(f"{len(servers)} servers answer {self.action_name}: " + ", ".join(
                sorted(_label(i.node_namespace, i.node_name) for i in servers)))
        now, wanted = time.monotonic(), set(joints)
        claiming = [gid for gid, (names, at) in list(self._state_sources.items())
                    if now - at <= self.state_window_s and (not wanted or names & wanted)]
        if len(claiming) > 1:
            labels = []
            for gid in claiming:
                who = self._state_publishers.publisher({"publisher_gid": {"data": gid}})
                labels.append(_label(*who) if who else "a node not yet identified")
            problems.append(f"{len(claiming)} publishers report these joints on {self.joint_states_topic}: "
                            + ", ".join(sorted(labels)))
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
