"""scene_sim: a FollowJointTrajectory server on a MuJoCo Panda scene (table, objects). NEVER for hardware.

The physics stand-in for the host-owned controller, like ``sim_controller`` but with dynamics: a physics thread
steps ``worldforge_ros.scene.Scene`` in real time (times ``time_scale``) and, while a goal runs, sets the
position actuators' targets from the trajectory (cubic Hermite between points, the joint-damping velocity
feedforward) every ``control_period_s`` of simulated time, so the arm lags and overshoots like a servoed arm and
the tracking error is real. Goals follow sim_controller's semantics: path tolerance while t <= end (abort with
PATH_TOLERANCE_VIOLATED), goal tolerance within goal_time_tolerance after the end (else
GOAL_TOLERANCE_VIOLATED), cancel honoured (the arm holds where it is), one trajectory at a time; every goal is
counted on the latched ``~/goals_received``; after success the last point stays the command (as in
ros2_control's JTC). Publishes ``joint_states`` (relative) at ``rate_hz`` and, when a
headless GL works (MUJOCO_GL, default egl), ``sensor_msgs/Image`` rgb8 on ``camera/image_raw`` from
``camera_name`` at ``camera_rate_hz`` (rendered on its own thread from a copy of the state).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import numpy as np
from rclpy.action import ActionServer, CancelResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import UInt32
from trajectory_msgs.msg import JointTrajectoryPoint

from worldforge_ros.core import names
from worldforge_ros.core.errors import ErrorCode, RequestError, WorldForgeRosError
from worldforge_ros.core.interpolation import sample
from worldforge_ros.core.parameters import ParamSpec
from worldforge_ros.nodes.control_types import follow_joint_trajectory_type
from worldforge_ros.nodes.conversions import ns_to_time, trajectory_arrays
from worldforge_ros.nodes.jtc_goal import (ENDPOINT_PARAMS, SUCCEEDED, JtcGoalChecks, refuse_real_controller_name,
                                           tick_verdict)
from worldforge_ros.nodes.params import declare_and_validate
from worldforge_ros.nodes.spin import destroy_actions, run_node
from worldforge_ros.scene import EMBODIMENT_JOINTS, HOME, SceneUnavailable

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
CAMERA_TOPIC = "camera/image_raw"

PARAMS = (
    ParamSpec("initial_positions", list(HOME), "Start positions of panda_joint1..7 (rad).", read_only=True),
    *ENDPOINT_PARAMS,
    ParamSpec("rate_hz", 50.0, "joint_states, feedback and tolerance-check rate.", min_value=1.0, max_value=500.0),
    ParamSpec("control_period_s", 0.004, "Simulated seconds between actuator target updates.",
              min_value=0.002, max_value=0.1, read_only=True),
    ParamSpec("time_scale", 1.0, "Simulated seconds per wall-clock second (tests run faster than real time).",
              min_value=0.01, max_value=20.0),
    ParamSpec("path_tolerance", 0.25, "Default max |desired - actual| per joint during motion (rad).",
              min_value=0.0),
    ParamSpec("goal_tolerance", 0.02, "Default max |goal - actual| per joint at the end (rad).", min_value=0.0),
    ParamSpec("goal_time_tolerance", 0.5, "Default simulated time allowed after the end to reach the goal "
              "tolerance (s).", min_value=0.0),
    ParamSpec("camera_name", "front", "Scene camera rendered to camera/image_raw (front or side).",
              read_only=True, choices=("front", "side")),
    ParamSpec("camera_rate_hz", 2.0, "Image rate (0 = no camera).", min_value=0.0, max_value=30.0,
              read_only=True),
    ParamSpec("image_width", 320, "Rendered image width (px).", min_value=16, max_value=1920, read_only=True),
    ParamSpec("image_height", 240, "Rendered image height (px).", min_value=16, max_value=1080, read_only=True),
    ParamSpec("publish_clock", False, "Publish the simulated time on /clock (rosgraph_msgs/Clock, every "
              "clock_period_s of simulated time): the time source of nodes with use_sim_time. bringup/launch turn "
              "it on with use_sim_time:=true when the scene is the simulator.", read_only=True),
    ParamSpec("clock_period_s", 0.01, "Simulated seconds between /clock messages.", min_value=0.001,
              max_value=1.0, read_only=True),
)
CLOCK_TOPIC = "/clock"  # absolute by convention: every node's use_sim_time subscribes to /clock


class _Goal:
    """An active trajectory as the physics thread sees it (times relative to ``t0`` in simulated seconds)."""

    def __init__(self, joint_names, start, pos, vel, times, t0):
        self.joint_names, self.start, self.pos, self.vel, self.times, self.t0 = \
            list(joint_names), start, pos, vel, times, t0

    def desired(self, sim_time: float) -> tuple[float, np.ndarray, np.ndarray]:
        t = sim_time - self.t0
        p, v = sample(self.start, self.pos, self.vel, self.times, t)
        return t, p, v


class SceneSim(JtcGoalChecks, Node):
    def __init__(self, node_name: str = "scene_sim", **kwargs: Any) -> None:
        self._stopping = threading.Event()  # first: destroy_node runs even when __init__ raises
        self._threads: list[threading.Thread] = []
        super().__init__(node_name, **kwargs)
        self.p = declare_and_validate(self, PARAMS)
        refuse_real_controller_name("scene_sim", self.p["action_name"])
        init = list(self.p["initial_positions"])
        if len(init) != len(EMBODIMENT_JOINTS):
            raise ValueError(f"initial_positions must have {len(EMBODIMENT_JOINTS)} values")
        from worldforge_ros.scene import Scene

        try:
            self.scene = Scene(width=self.p["image_width"], height=self.p["image_height"], initial_positions=init)
        except SceneUnavailable as exc:
            raise RequestError(f"scene_sim cannot build its scene: {exc}", ErrorCode.INVALID_ARGUMENT) from exc
        self.joint_names = list(EMBODIMENT_JOINTS)
        self._lock = threading.Lock()  # guards the scene and _goal
        self._busy = threading.Lock()
        self._goal: _Goal | None = None
        self._goal_elapsed = self._max_error = 0.0
        self.goals_received = 0
        self.camera_status = "off" if self.p["camera_rate_hz"] <= 0 else "starting"
        self.action_type, self.action_type_name = follow_joint_trajectory_type(self.p["action_type"])
        group = ReentrantCallbackGroup()
        self._js_pub = self.create_publisher(JointState, self.p["joint_states_topic"], 10)
        self._count_pub = self.create_publisher(UInt32, names.GOALS_RECEIVED_TOPIC, LATCHED)
        self._count_pub.publish(UInt32(data=0))
        self._img_pub = self.create_publisher(Image, CAMERA_TOPIC, 2) if self.p["camera_rate_hz"] > 0 else None
        self._clock_pub = self.create_publisher(Clock, CLOCK_TOPIC, 10) if self.p["publish_clock"] else None
        self.create_timer(1.0 / self.p["rate_hz"], self._publish_state, callback_group=group)
        self._server = ActionServer(self, self.action_type, self.p["action_name"], self._execute,
                                    goal_callback=self._on_goal, cancel_callback=lambda _g: CancelResponse.ACCEPT,
                                    callback_group=group)
        self._threads.append(threading.Thread(target=self._physics_loop, name="scene_sim_physics", daemon=True))
        if self._img_pub is not None:
            self._threads.append(threading.Thread(target=self._camera_loop, name="scene_sim_camera", daemon=True))
        for th in self._threads:
            th.start()
        self.get_logger().warning(f"scene_sim (MuJoCo {self.scene.mujoco.__version__}, {self.action_type_name}) on "
                                  f"{self.resolve_topic_name(self.p['action_name'])}: "
                                  "a simulated controller for demos and tests, never for hardware")

    # ---- physics --------------------------------------------------------------------------------------------
    def _physics_loop(self) -> None:
        """Keep simulated time = wall time x time_scale; update actuator targets every control period."""
        scene, dt = self.scene, self.p["control_period_s"]
        wall0, sim0 = time.monotonic(), scene.time
        next_clock = scene.time
        while not self._stopping.is_set():
            target = sim0 + (time.monotonic() - wall0) * self.p["time_scale"]
            with self._lock:
                # Bounded catch-up: after a stall, let simulated time slip instead of spinning forever.
                if target - scene.time > 0.25:
                    sim0 -= target - scene.time - 0.25
                    target = scene.time + 0.25
                while scene.time + dt <= target + 1e-9:
                    goal = self._goal
                    if goal is not None:
                        _, p, v = goal.desired(scene.time)
                        scene.set_targets(goal.joint_names, p, v)
                    scene.advance(dt)
                now = scene.time
            if self._clock_pub is not None and now >= next_clock:
                self._clock_pub.publish(Clock(clock=ns_to_time(int(round(now * 1e9)))))
                next_clock = now + self.p["clock_period_s"]
            time.sleep(0.002)

    def _camera_loop(self) -> None:
        mj = self.scene.mujoco
        model = self.scene.model
        copy = mj.MjData(model)
        renderer = None
        period = 1.0 / self.p["camera_rate_hz"]
        while not self._stopping.wait(period if renderer is not None else 0.0):
            with self._lock:
                copy.qpos[:] = self.scene.data.qpos
            mj.mj_forward(model, copy)
            try:
                if renderer is None:
                    renderer = mj.Renderer(model, self.p["image_height"], self.p["image_width"])
                renderer.update_scene(copy, camera=self.p["camera_name"])
                pixels = np.ascontiguousarray(renderer.render(), dtype=np.uint8)
            except Exception as exc:  # noqa: BLE001 - no headless GL: say so once and stop the camera
                self.camera_status = f"render_unavailable: {type(exc).__name__}: {exc}"
                self.get_logger().error(f"scene_sim camera off: {self.camera_status}")
                return
            self.camera_status = "ok"
            msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding="rgb8", is_bigendian=0,
                        step=pixels.shape[1] * 3, data=pixels.tobytes())
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.header.frame_id = f"scene_camera_{self.p['camera_name']}"
            try:
                self._img_pub.publish(msg)
            except Exception:  # noqa: BLE001 - publisher gone at shutdown
                return
        if renderer is not None:
            renderer.close()

    # ---- state ----------------------------------------------------------------------------------------------
    def _publish_state(self) -> None:
        with self._lock:
            q, qd = self.scene.joint_positions(), self.scene.joint_velocities()
        msg = JointState(name=self.joint_names, position=q.tolist(), velocity=qd.tolist())
        msg.header.stamp = self.get_clock().now().to_msg()
        self._js_pub.publish(msg)

    # ---- goals ----------------------------------------------------------------------------------------------
    def _execute(self, goal_handle: Any) -> Any:
        with self._busy:  # one trajectory at a time, like a JTC
            wall0, self._max_error, self._goal_elapsed = time.monotonic(), 0.0, 0.0
            result, hold = None, None
            try:
                result, hold = self._run(goal_handle)
                return result
            finally:
                self.get_logger().info(
                    f"goal done: error_code {getattr(result, 'error_code', '?')} "
                    f"{getattr(result, 'error_string', '')!r} after {self._goal_elapsed:.3f}s simulated, "
                    f"{time.monotonic() - wall0:.3f}s wall, max |desired - actual| {self._max_error:.4f} rad")
                with self._lock:  # success: the last point stays the command; abort/cancel: hold where it is
                    self._goal = None
                    if hold is None:
                        self.scene.set_targets(self.joint_names, self.scene.joint_positions())
                    else:
                        self.scene.set_targets(*hold)

    def _run(self, goal_handle: Any) -> tuple[Any, tuple[list[str], np.ndarray] | None]:
        """The goal's result, and after success the (joint names, positions) the arm keeps (like ros2_control's
        JTC: the last point); None after abort or cancel."""
        goal = goal_handle.request
        result = self.action_type.Result()
        jn, pos, vel, times = trajectory_arrays(goal.trajectory)
        jn = list(jn)
        path_tol, goal_tol, gtt = self._tolerances(goal, jn)
        with self._lock:
            active = _Goal(jn, self.scene.joint_positions(jn), pos, vel, times, self.scene.time)
            self._goal = active
        period = 1.0 / self.p["rate_hz"]
        end = times[-1]
        while True:
            time.sleep(period)
            with self._lock:
                t, desired_p, desired_v = active.desired(self.scene.time)
                actual = self.scene.joint_positions(jn)
                actual_v = self.scene.joint_velocities(jn)
            error = desired_p - actual
            self._goal_elapsed = t
            self._max_error = max(self._max_error, float(np.abs(error).max()))
            fb = self.action_type.Feedback()
            fb.header.stamp = self.get_clock().now().to_msg()
            fb.joint_names = jn
            fb.desired = JointTrajectoryPoint(positions=desired_p.tolist(), velocities=desired_v.tolist())
            fb.actual = JointTrajectoryPoint(positions=actual.tolist(), velocities=actual_v.tolist())
            fb.error = JointTrajectoryPoint(positions=error.tolist(), velocities=(desired_v - actual_v).tolist())
            goal_handle.publish_feedback(fb)
            if goal_handle.is_cancel_requested or self._stopping.is_set():
                goal_handle.canceled()
                result.error_code, result.error_string = result.SUCCESSFUL, "canceled by client"
                return result, None
            verdict = tick_verdict(result, t, end, gtt, error, pos[-1] - actual, path_tol, goal_tol, jn)
            if verdict:
                goal_handle.succeed() if verdict == SUCCEEDED else goal_handle.abort()
                return result, ((jn, pos[-1]) if verdict == SUCCEEDED else None)

    def destroy_node(self) -> None:
        self._stopping.set()  # ends a running trajectory at once (as canceled) and the physics/camera threads
        for th in self._threads:
            th.join(timeout=2.0)
        destroy_actions(self)
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    # A running goal holds one executor thread for its whole duration: keep others for the joint_states timer,
    # goal/cancel/result requests (os.cpu_count() is 2 on the CI machines).
    return run_node("scene_sim", SceneSim, argv, threads=4, startup_errors=(WorldForgeRosError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
