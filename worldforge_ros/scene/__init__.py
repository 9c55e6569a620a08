"""A simulated Panda scene on MuJoCo, ROS-free: model loading, stepping, rendering, collision queries.

``Scene`` (scene.py) wraps the model built by ``model.scene_xml`` (the gymnasium-robotics Franka assets on a
table with a few objects); ``check_trajectory`` / ``SceneFeasibilityChecker`` (collision.py) check a timed
joint trajectory for self and world collisions. Importing this package does not import mujoco: a missing
runtime surfaces as ``SceneUnavailable`` (with a stable ``reason``) when a scene is built.
"""

from .model import EMBODIMENT_JOINTS, HOME, JOINT_MAP, JOINT_OFFSETS, SceneUnavailable

__all__ = ["import_torch_before_gl", "EMBODIMENT_JOINTS", "HOME", "JOINT_MAP", "JOINT_OFFSETS", "SceneUnavailable", "Scene",
           "RenderUnavailable", "SceneFeasibilityChecker", "check_trajectory", "DEFAULT_RESOLUTION_S"]


def import_torch_before_gl() -> None:
    """Load torch's native stack (torchvision ops, and triton through torch._dynamo) before the first render in a
    process that will also run torch: loading libtriton after an EGL context exists crashes the process (SIGSEGV,
    seen here with torch 2.14.1 and MUJOCO_GL=egl). Called by the composed bringup when it hosts torch providers
    next to the scene, and by every entry point that renders and then trains or evaluates. ImportError propagates
    (callers decide whether a missing torch matters)."""
    import torchvision.ops  # noqa: F401


def __getattr__(name: str):
    if name in ("Scene", "RenderUnavailable"):
        from . import scene
        return getattr(scene, name)
    if name in ("SceneFeasibilityChecker", "check_trajectory", "DEFAULT_RESOLUTION_S"):
        from . import collision
        return getattr(collision, name)
    raise AttributeError(name)
