"""``worldforge-ros demo-session``: drive a running graph through one plan -> approve -> execute (scripts/demo).

It does what a lab's node and operator would do, through the public interfaces only: read the controller's
``/joint_states``, build an observation (plus a synthetic camera frame and goal image when the profile's score
provider needs pixels), call ``/worldforge/plan``, print the ranked candidates, record an operator decision on
``/worldforge/approve`` (``--approve`` for the non-interactive run; otherwise the operator is asked on the
terminal, and without a terminal a refusal is recorded), then call ``/worldforge/execute`` (dry-run unless the
graph was started with execution enabled).
"""

from __future__ import annotations

from worldforge_ros.core import names

import argparse
import dataclasses
import sys
import threading
import time

import numpy as np

SCENE_CAMERA_TOPIC = "camera/image_raw"
GOAL_OFFSET = np.array([0.30, 0.20, -0.20, 0.30, 0.10, 0.20, 0.0])
"""Goal = the controller's current joint positions + this offset (rad): a reachable reach for the demo."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="reach the goal pose", help="instruction sent with the observation")
    parser.add_argument("--images", action="store_true",
                        help="attach a synthetic 'front' camera frame and a goal image (needed by LeWorldModel)")
    parser.add_argument("--scene-reach", type=int, default=None, metavar="SEED",
                        help="reach task SEED of the benchmark's unseen targets on the MuJoCo scene: the camera frame "
                             "comes from scene_sim (camera/image_raw), the goal joints from IK and the goal image "
                             "from the same scene; after execution the end-effector error is printed")
    parser.add_argument("--approve", action="store_true",
                        help="approve non-interactively as 'demo-operator' with the checklist confirmed")
    parser.add_argument("--operator", default="demo-operator", help="operator id recorded with the decision")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the graph and the plan")


def _latest_joint_state(cli, timeout: float):
    from sensor_msgs.msg import JointState

    got = threading.Event()
    box = {}

    def on_state(msg):
        if msg.name:
            box["msg"] = msg
            got.set()

    cli.node.create_subscription(JointState, names.JOINT_STATES_TOPIC, on_state, 10)
    if not got.wait(timeout):
        raise TimeoutError("no /joint_states received (is sim_controller running?)")
    return box["msg"]


def build_observation(joint_state, task: str, images: bool):
    """ObservationData from the live joint state; goal = current + GOAL_OFFSET (and its image when asked)."""
    from worldforge_ros.core.observation import ImageData, ObservationData

    positions = np.asarray(joint_state.position, dtype=np.float64)
    goal = positions + GOAL_OFFSET[: len(positions)]
    extras = {"goal_positions": goal}
    frames = ()
    if images:
        from worldforge_ros.testing.lewm_fixtures import render_joint_image

        frames = (ImageData("front", "rgb8", render_joint_image(positions)),)
        extras["goal_image"] = render_joint_image(goal)
    return ObservationData(stamp_ns=time.time_ns(), task=task, embodiment_tag="panda_7dof",
                           joint_names=tuple(joint_state.name), joint_positions=positions, images=frames,
                           extras=extras)


def _latest_image(cli, timeout: float):
    from sensor_msgs.msg import Image

    from worldforge_ros.nodes.conversions import image_to_array

    got = threading.Event()
    box = {}

    def on_image(msg):
        box["msg"] = msg
        got.set()

    cli.node.create_subscription(Image, SCENE_CAMERA_TOPIC, on_image, 2)
    if not got.wait(timeout):
        raise TimeoutError(f"no image on {cli.node.resolve_topic_name(SCENE_CAMERA_TOPIC)} (is scene_sim running "
                           "with a camera? bringup --simulator scene)")
    return image_to_array(box["msg"])


class SceneReach:
    """The demo's reach on the MuJoCo scene: an unseen target (``reach_data.EVAL_SEED_BASE + seed``), the goal
    joints by IK from the live start, and the goal image rendered from the scene's front camera."""

    def __init__(self, seed: int) -> None:
        from worldforge_ros.scene.reach import sample_task
        from worldforge_ros.scene.scene import Scene
        from worldforge_ros.training.reach_data import EVAL_SEED_BASE

        self.scene = Scene()
        self.target = sample_task(self.scene, EVAL_SEED_BASE + seed).target

    def observation(self, joint_state, frame, task: str):
        from worldforge_ros.core.observation import ObservationData
        from worldforge_ros.scene.model import EMBODIMENT_JOINTS
        from worldforge_ros.scene.reach import solve_ik
        from worldforge_ros.training.reach_data import render_at

        live = dict(zip(joint_state.name, joint_state.position))
        start = np.array([live[n] for n in EMBODIMENT_JOINTS])
        goal = solve_ik(self.scene, self.target, start)
        if goal is None:
            raise ValueError(f"target {np.round(self.target, 3).tolist()} is not reachable from the live state")
        goal_image = render_at(self.scene, goal)  # the front camera, as scene_sim's frame
        print(f"demo: reach target {np.round(self.target, 3).tolist()} m (not in training), goal joints by IK")
        return ObservationData(stamp_ns=time.time_ns(), task=task, embodiment_tag="panda_7dof",
                               joint_names=EMBODIMENT_JOINTS, joint_positions=start, images=(frame,),
                               extras={"goal_positions": goal, "goal_image": goal_image})

    def error_m(self, joint_state) -> float:
        from worldforge_ros.scene.model import EMBODIMENT_JOINTS

        live = dict(zip(joint_state.name, joint_state.position))
        return float(np.linalg.norm(self.scene.end_effector_at([live[n] for n in EMBODIMENT_JOINTS]) - self.target))


def _decide(args, digest: str) -> tuple[bool, dict]:
    from worldforge_ros.commands.approve import _ask
    from worldforge_ros.core.approval import CHECKLIST

    if args.approve:
        return True, {item: True for item in CHECKLIST}
    if not sys.stdin.isatty():
        print("demo: no --approve and no terminal to ask: recording a refusal (nothing will execute)")
        return False, {item: False for item in CHECKLIST}
    checks = {item: _ask(item.replace("_", " ") + "?") for item in CHECKLIST}
    return _ask(f"approve plan {digest}?"), checks


def run(args: argparse.Namespace) -> int:
    from worldforge_ros.commands.execute import execute, report
    from worldforge_ros.commands.plan import format_table
    from worldforge_ros.commands.ros_client import CliNode
    from worldforge_ros.nodes.conversions import observation_to_msg
    from worldforge_ros.srv import Approve, Plan

    try:
        with CliNode("worldforge_ros_demo_session") as cli:
            plan_client = cli.client(Plan, names.PLAN_SERVICE, args.timeout)
            joint_state = _latest_joint_state(cli, 30.0)
            reach = None
            if args.scene_reach is not None:
                reach = SceneReach(args.scene_reach)
                frame = _latest_image(cli, 30.0)
                observation = reach.observation(joint_state, dataclasses.replace(frame, camera="front"), args.task)
            else:
                observation = build_observation(joint_state, args.task, args.images)
            request = Plan.Request(task=args.task, observation=observation_to_msg(observation),
                                   deadline_s=min(60.0, args.timeout), request_id="demo-plan-1")
            started = time.perf_counter()
            plan = cli.wait(plan_client.call_async(request), args.timeout)
            if not plan.success:
                print(f"demo: plan failed [{plan.error_code}]: {plan.error_message}", file=sys.stderr)
                return 1
            print(f"demo: plan in {time.perf_counter() - started:.2f} s")
            print(format_table(plan))
            if reach is not None:  # the gate renders previews (previews:=true): show where, before deciding
                from worldforge_ros.commands.approve import _preview_event, preview_text

                print(preview_text(_preview_event(cli, plan.plan_digest, 30.0)))
            approve, checks = _decide(args, plan.plan_digest)
            approve_client = cli.client(Approve, names.APPROVE_SERVICE, 20.0)
            decision = cli.wait(approve_client.call_async(Approve.Request(
                plan_digest=plan.plan_digest, approve=approve, operator_id=args.operator,
                note="scripts/demo", **checks)), 20.0)
            if not decision.accepted:
                print(f"demo: decision recorded, not approved ({decision.error_message or 'refused'}); "
                      "nothing executes")
                return 0
            print(f"demo: approved ({decision.approval_id}); execution "
                  f"{'ENABLED: sim_controller moves' if decision.execution_enabled else 'disabled: dry-run record'}")
            result = execute(cli, decision.approval_id, plan.plan_digest, args.timeout)
            if reach is not None and decision.execution_enabled:
                time.sleep(0.5)  # the arm settles; the next joint state is where it stopped
                final = _latest_joint_state(cli, 10.0)
                error = reach.error_m(final)
                from worldforge_ros.scene.reach import SUCCESS_TOLERANCE_M

                print(f"demo: end effector {error * 100:.1f} cm from the target "
                      f"({'reached' if error < SUCCESS_TOLERANCE_M else 'missed'}: tolerance "
                      f"{SUCCESS_TOLERANCE_M * 100:g} cm)")
    except (TimeoutError, ValueError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 3
    return report(result, "demo")
