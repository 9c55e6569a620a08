"""worldforge_ros: plan with learned models on a ROS 2 graph and move only what a person approved.

The hand-written package shares its name with the rosidl-generated one (``worldforge_ros.msg``,
``worldforge_ros.srv``, ``worldforge_ros.action``). ``extend_path`` merges the source tree and the colcon
install tree, so generated and hand-written modules import from either place.
"""

import pkgutil

__path__ = pkgutil.extend_path(__path__, __name__)  # noqa: F821 (module attribute set by the import system)

__version__ = "0.1.0"
