"""Every ROS name the package uses, defined once.

Graph names are **relative** (no leading ``/``): they resolve inside the node's namespace, so
``namespace:=robot1`` (launch) or ``-r __ns:=/robot1`` (``ros2 run`` / ``bringup``) moves the whole graph to
``/robot1/...`` and two robots share one domain without crosstalk. ``/diagnostics`` stays absolute on purpose:
it is the one topic ``diagnostic_aggregator`` listens to, whatever namespace a node is in (hardware id and
node name tell the robots apart).

The evidence bag records the same topics under their canonical absolute names (``/worldforge/plans`` ...),
whatever namespace the graph ran in; the namespace is written into the run manifest.
"""

from __future__ import annotations

PLAN_SERVICE = "worldforge/plan"
APPROVE_SERVICE = "worldforge/approve"
EXECUTE_ACTION = "worldforge/execute"
APPROVE_ENVELOPE_SERVICE = "worldforge/approve_envelope"
RUN_POLICY_ACTION = "worldforge/run_policy"
EVENTS_TOPIC = "worldforge/events"
PLANS_TOPIC = "worldforge/plans"
APPROVALS_TOPIC = "worldforge/approvals"
EXECUTIONS_TOPIC = "worldforge/executions"
ENVELOPES_TOPIC = "worldforge/envelopes"
CHUNKS_TOPIC = "worldforge/chunks"
HEARTBEAT_TOPIC = "worldforge/heartbeat"
"""Default dead-man topic of an envelope (``std_msgs/msg/Empty``; receipt time counts, not a stamp)."""
JOINT_STATES_TOPIC = "joint_states"
DIAGNOSTICS_TOPIC = "/diagnostics"

SIM_CONTROLLER_ACTION = "sim_controller/follow_joint_trajectory"
"""The kinematic stand-in's action: never the name of a real controller."""
REAL_CONTROLLER_ACTION = "joint_trajectory_controller/follow_joint_trajectory"
"""ros2_control's usual JointTrajectoryController action (the gate's default target)."""
GOALS_RECEIVED_TOPIC = "~/goals_received"

PLANNER_NODE = "planner"
APPROVAL_NODE = "approval"
PROVIDER_NODE_PREFIX = "provider_"


def provider_service(provider: str, capability: str) -> str:
    """``worldforge/providers/<name>/select_actions`` (policy) or ``.../score_actions`` (score)."""
    kind = "select_actions" if capability == "policy" else "score_actions"
    return f"worldforge/providers/{provider}/{kind}"


def provider_node_name(provider: str) -> str:
    """Default node name of the provider ``provider`` (the key of its block in a params file)."""
    return PROVIDER_NODE_PREFIX + provider


def bag_topic(name: str) -> str:
    """The canonical absolute topic a record of graph topic ``name`` is written under in the bag."""
    return name if name.startswith("/") else "/" + name


def join(namespace: str, name: str) -> str:
    """Fully qualified name of relative ``name`` inside ``namespace`` (``''`` or ``/`` = the root)."""
    if name.startswith("/"):
        return name
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    return f"{ns}/{name}"
