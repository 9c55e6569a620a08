"""Every generated message, service and action type imports and round-trips through rclpy.serialization."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_SCALARS = {
    "string": "wf-ä", "bool": True, "float64": -2.5, "float32": 0.5, "int32": -7, "int64": -(2**40),
    "uint32": 7, "uint64": 2**40, "uint16": 3, "uint8": 200, "int8": -3, "int16": -300, "byte": b"\x01",
    "char": 65, "double": 1.25, "float": 0.25, "octet": b"\x02", "boolean": True,
}


def _msg_class(type_name: str):
    pkg, name = type_name.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


def _sample(type_str: str, depth: int = 0):
    seq = re.fullmatch(r"sequence<(.+?)(?:, \d+)?>", type_str)
    if seq:
        return [_sample(seq.group(1), depth), _sample(seq.group(1), depth)] if depth < 3 else []
    arr = re.fullmatch(r"(.+)\[(\d+)\]", type_str)
    if arr:
        return [_sample(arr.group(1), depth)] * int(arr.group(2))
    bounded = re.fullmatch(r"string<\d+>", type_str)
    if bounded:
        return "wf"
    if type_str in _SCALARS:
        return _SCALARS[type_str]
    return _filled(_msg_class(type_str), depth + 1)


def _filled(cls, depth: int = 0):
    msg = cls()
    for field, type_str in cls.get_fields_and_field_types().items():
        setattr(msg, field, _sample(type_str, depth))
    return msg


def _interface_types():
    for path in sorted((ROOT / "msg").glob("*.msg")):
        yield f"msg/{path.stem}", [("msg", path.stem, None)]
    for path in sorted((ROOT / "srv").glob("*.srv")):
        yield f"srv/{path.stem}", [("srv", path.stem, part) for part in ("Request", "Response")]
    for path in sorted((ROOT / "action").glob("*.action")):
        yield f"action/{path.stem}", [("action", path.stem, part) for part in ("Goal", "Result", "Feedback")]


@pytest.mark.parametrize("label,parts", list(_interface_types()), ids=lambda v: v if isinstance(v, str) else "")
def test_interface_round_trips(label, parts):
    from rclpy.serialization import deserialize_message, serialize_message

    for kind, name, part in parts:
        module = importlib.import_module(f"worldforge_ros.{kind}")
        cls = getattr(module, name) if part is None else getattr(getattr(module, name), part)
        msg = _filled(cls)
        data = serialize_message(msg)
        back = deserialize_message(data, cls)
        assert back == msg, f"{label} {part or ''} changed in a serialization round trip"
        assert back != cls() or not cls.get_fields_and_field_types(), f"{label} sample is indistinguishable from default"


def test_every_interface_file_is_generated():
    """The CMake list and the files on disk agree (a forgotten file would not be generated)."""
    cmake = (ROOT / "CMakeLists.txt").read_text()
    on_disk = {f"{p.parent.name}/{p.name}" for d in ("msg", "srv", "action") for p in (ROOT / d).iterdir()}
    listed = set(re.findall(r'"((?:msg|srv|action)/\w+\.(?:msg|srv|action))"', cmake))
    assert on_disk == listed


def test_follow_joint_trajectory_matches_control_msgs_layout():
    """Field-for-field with control_msgs/action/FollowJointTrajectory (Humble/Jazzy goal, result, feedback)."""
    from worldforge_ros.action import FollowJointTrajectory as F
    from worldforge_ros.msg import JointComponentTolerance, JointTolerance

    assert F.Goal.get_fields_and_field_types() == {
        "trajectory": "trajectory_msgs/JointTrajectory",
        "multi_dof_trajectory": "trajectory_msgs/MultiDOFJointTrajectory",
        "path_tolerance": "sequence<worldforge_ros/JointTolerance>",
        "component_path_tolerance": "sequence<worldforge_ros/JointComponentTolerance>",
        "goal_tolerance": "sequence<worldforge_ros/JointTolerance>",
        "component_goal_tolerance": "sequence<worldforge_ros/JointComponentTolerance>",
        "goal_time_tolerance": "builtin_interfaces/Duration",
    }
    assert F.Result.get_fields_and_field_types() == {"error_code": "int32", "error_string": "string"}
    assert (F.Result.SUCCESSFUL, F.Result.INVALID_GOAL, F.Result.INVALID_JOINTS, F.Result.OLD_HEADER_TIMESTAMP,
            F.Result.PATH_TOLERANCE_VIOLATED, F.Result.GOAL_TOLERANCE_VIOLATED) == (0, -1, -2, -3, -4, -5)
    assert list(F.Feedback.get_fields_and_field_types()) == [
        "header", "joint_names", "desired", "actual", "error",
        "multi_dof_joint_names", "multi_dof_desired", "multi_dof_actual", "multi_dof_error"]
    assert JointTolerance.get_fields_and_field_types() == {
        "name": "string", "position": "double", "velocity": "double", "acceleration": "double"}
    assert list(JointComponentTolerance.get_fields_and_field_types()) == [
        "joint_name", "component", "position", "velocity", "acceleration"]
    assert (JointComponentTolerance.X_AXIS, JointComponentTolerance.ROTATION) == (1, 5)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_trajectory_conversion_round_trips_exactly(dtype):
    import numpy as np
    from rclpy.serialization import deserialize_message, serialize_message
    from trajectory_msgs.msg import JointTrajectory

    from worldforge_ros.nodes.conversions import trajectory_arrays, trajectory_to_msg

    rng = np.random.default_rng(3)
    names = [f"j{i}" for i in range(7)]
    pos = rng.normal(size=(7, 16)).astype(dtype).T  # a non-contiguous (T, J) view
    vel = rng.normal(size=(16, 7)).astype(dtype)
    times = 0.1 * np.arange(1, 17)
    msg = deserialize_message(serialize_message(trajectory_to_msg(names, pos, vel, times)), JointTrajectory)
    got_names, got_pos, got_vel, got_times = trajectory_arrays(msg)
    assert got_names == tuple(names)
    np.testing.assert_array_equal(got_pos, pos.astype(np.float64))
    np.testing.assert_array_equal(got_vel, vel.astype(np.float64))
    np.testing.assert_allclose(got_times, times, atol=1e-9)


def test_trajectory_points_filled_slot_by_slot_equal_constructed_ones():
    """The planner fills JointTrajectoryPoint/Duration slots directly (the generated constructors re-check every
    field): the message must be the one the public constructors build, settable and checked the same way after."""
    import array

    import numpy as np
    from builtin_interfaces.msg import Duration
    from trajectory_msgs.msg import JointTrajectoryPoint

    from worldforge_ros.nodes import conversions

    assert conversions._POINT_DIRECT and conversions._DURATION_DIRECT  # else the test below checks nothing new
    rng = np.random.default_rng(5)
    pos, vel = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    times = np.array([0.1, 0.2, 1.0, 1.5, 2.000000001])
    msg = conversions.trajectory_to_msg(["a", "b", "c"], pos, vel, times)
    for k, point in enumerate(msg.points):
        ns = int(round(times[k] * 1e9))
        built = JointTrajectoryPoint(positions=array.array("d", pos[k]), velocities=array.array("d", vel[k]),
                                     time_from_start=Duration(sec=ns // 10**9, nanosec=ns % 10**9))
        assert point == built and repr(point) == repr(built)
        assert point.time_from_start.sec == ns // 10**9 and point.time_from_start.nanosec == ns % 10**9
        assert len(point.accelerations) == 0 and len(point.effort) == 0
        assert getattr(point, "_check_fields", None) == getattr(built, "_check_fields", None)
    msg.points[0].positions = [1.0, 2.0, 3.0]  # the setters still work on a slot-filled point
    assert list(msg.points[0].positions) == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        conversions.trajectory_to_msg(["a", "b", "c"], pos, vel, times[:4])


def test_nodes_offer_the_qos_the_bag_records():
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    from worldforge_ros.evidence.topics import PLANS_DEPTH, PLANS_TOPIC, RECORD_TOPICS, TOPIC_QOS
    from worldforge_ros.nodes.evidence_qos import PLANS_QOS, evidence_qos

    for topic in RECORD_TOPICS:
        qos, recorded = evidence_qos(topic), TOPIC_QOS[topic]
        assert qos.depth == recorded.depth and qos.reliability == ReliabilityPolicy.RELIABLE
        assert (qos.durability == DurabilityPolicy.TRANSIENT_LOCAL) == (recorded.durability.name == "TRANSIENT_LOCAL")
    assert PLANS_QOS.depth == PLANS_DEPTH == TOPIC_QOS[PLANS_TOPIC].depth
    assert evidence_qos("/worldforge/events").durability == DurabilityPolicy.TRANSIENT_LOCAL
