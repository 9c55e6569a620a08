"""A simulated Panda scene on MuJoCo, ROS-free: model loading, stepping, rendering, collision queries.

``Scene`` (scene.py) wraps the model built by ``model.scene_xml`` (the gymnasium-robotics Franka assets on a
table with a few objects); ``check_trajectory`` / ``SceneFeasibilityChecker`` (collision.py) check a timed
joint trajectory for self and world collisions. Importing this package does not import mujoco: a missing
runtime surfaces as ``SceneUnavailable`` (with a stable ``reason``) when a scene is built.
"""

from .model import EMBODIMENT_JOINTS, HOME, JOINT_MAP, JOINT_OFFSETS, SceneUnavailable

__all__ = ["EMBODIMENT_JOINTS", "HOME", "JOINT_MAP", "JOINT_OFFSETS", "SceneUnavailable", "Scene",
           "RenderUnavailable", "SceneFeasibilityChecker", "check_trajectory", "DEFAULT_RESOLUTION_S"]


def __getattr__(name: str):
    if name in ("Scene", "RenderUnavailable"):
        from . import scene
        return getattr(scene, name)
    if name in ("SceneFeasibilityChecker", "check_trajectory", "DEFAULT_RESOLUTION_S"):
        from . import collision
        return getattr(collision, name)
    raise AttributeError(name)
