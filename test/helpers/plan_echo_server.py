"""Minimal /worldforge/plan server for the foundation round-trip test (not the planner).

Answers with a plan id derived from the request and a canonical digest of the request's fields, so the test can
check that the request crossed the process boundary intact.
"""

import sys

from rclpy.node import Node

from worldforge_ros.core.digests import digest_json
from worldforge_ros.nodes.spin import run_node
from worldforge_ros.srv import Plan


class PlanEchoServer(Node):
    def __init__(self) -> None:
        super().__init__("plan_echo_server")
        self.create_service(Plan, "/worldforge/plan", self.on_plan)

    def on_plan(self, request: Plan.Request, response: Plan.Response) -> Plan.Response:
        state = request.observation.joint_state
        response.success = True
        response.plan_id = f"echo-{request.request_id}"
        response.plan_digest = digest_json({"task": request.task, "names": list(state.name),
                                            "positions": list(state.position), "providers": list(request.policy_providers)})
        response.start_state = state
        response.selected_index = len(request.policy_providers) - 1
        return response


def main() -> int:
    return run_node("plan_echo_server", PlanEchoServer, single_threaded=True)


if __name__ == "__main__":
    sys.exit(main())
