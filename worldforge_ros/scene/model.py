"""The scene's MJCF: the Franka Panda from the gymnasium-robotics wheel, a table it is mounted on, a few objects.

No downloads: the arm's kinematics, meshes, joint limits and position actuators come from the files that the
PyPI wheel ``gymnasium-robotics`` ships under ``gymnasium_robotics/envs/assets/kitchen_franka/franka_assets/``
(``assets.xml``, ``chain.xml``, ``actuator.xml``; located with ``importlib.util.find_spec`` so the gymnasium
environment registry is never imported). Their ``<mujocoinclude>`` bodies are inlined into one MJCF string
with the mesh directory made absolute, so the model loads from a string with no files written anywhere.

Joint mapping (config/embodiments.yaml ``panda_7dof`` name → MJCF joint, ``q_mjcf = q_panda + offset``):
``panda_joint<k>`` ↔ ``robot:panda0_joint<k>`` for k = 1..7, offsets 0 except joint 6 (−1.57: the kitchen model's
link6 frame is rotated by its ``euler='1.57 0 1.57'``) and joint 7 (−0.7854: its link7 ``euler`` adds π/4 about z).
With them the embodiment's home pose puts the end-effector site at (0.307, 0, 0.487) m pointing down, the
standard Panda's. The MJCF ranges of joints 6 and 7 (and their actuators' ctrlrange) are rewritten to the
embodiment's limits plus the offset, so the simulated joints stop where the real ones do. Links ``panda0_link<k>`` are reported as
``panda_link<k>`` and the fingers as ``panda_leftfinger`` / ``panda_rightfinger``. The two finger slide joints
(``robot:panda0_finger_joint1/2``) are not part of the embodiment: the scene holds them open.

Changes to the shipped model, all stated here: every arm body gets ``gravcomp="1"`` (a real Panda compensates
gravity in its firmware, so the position actuators track without a gravity offset); the base link is excluded
from contact with the table it is bolted to.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ASSET_SUBDIR = Path("envs/assets/kitchen_franka/franka_assets")
EMBODIMENT_JOINTS = tuple(f"panda_joint{k}" for k in range(1, 8))
MJCF_JOINTS = tuple(f"robot:panda0_joint{k}" for k in range(1, 8))
JOINT_MAP = dict(zip(EMBODIMENT_JOINTS, MJCF_JOINTS))
FINGER_JOINTS = ("robot:panda0_finger_joint1", "robot:panda0_finger_joint2")
JOINT_OFFSETS = (0.0, 0.0, 0.0, 0.0, 0.0, -1.57, -0.7854)
# panda_7dof limits (config/embodiments.yaml) for joints 6 and 7, before the offset.
_PANDA_RANGE = {6: (-0.0175, 3.7525), 7: (-2.8973, 2.8973)}
HOME = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
TABLE_TOP_Z = 0.0  # the arm's base sits on the table top; world z = 0 is the table surface


class SceneUnavailable(RuntimeError):
    """The scene cannot be built here; ``reason`` is a stable machine-readable tag, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def franka_asset_dir() -> Path:
    spec = importlib.util.find_spec("gymnasium_robotics")
    if spec is None or not spec.submodule_search_locations:
        raise SceneUnavailable("gymnasium_robotics_missing",
                               "pip install gymnasium-robotics (requirements/runtimes.txt) for the Franka assets")
    root = Path(list(spec.submodule_search_locations)[0]) / ASSET_SUBDIR
    for name in ("assets.xml", "chain.xml", "actuator.xml"):
        if not (root / name).is_file():
            raise SceneUnavailable("franka_assets_missing", f"{root / name} not found")
    return root


def _inner(text: str) -> str:
    """The content of a ``<mujocoinclude>`` file, comments removed."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    match = re.search(r"<mujocoinclude>(.*)</mujocoinclude>", text, flags=re.S)
    if not match:
        raise SceneUnavailable("franka_assets_unexpected", "no <mujocoinclude> element")
    return match.group(1)


# Objects on the table: (body name, geom type, size, position, rgba). Static (no free joint): the checker and
# the sim see the same world, and a trajectory that hits one is infeasible.
OBJECTS = (
    ("red_cube", "box", "0.025 0.025 0.025", "0.55 0.25 0.025", "0.85 0.15 0.15 1"),
    ("green_cylinder", "cylinder", "0.03 0.05", "0.5 -0.3 0.05", "0.2 0.7 0.25 1"),
    ("blue_box", "box", "0.04 0.06 0.03", "0.65 0.0 0.03", "0.2 0.35 0.85 1"),
)


def scene_xml(asset_dir: Path | None = None, *, width: int = 320, height: int = 240) -> str:
    root = asset_dir or franka_asset_dir()
    assets = _inner((root / "assets.xml").read_text())
    assets = re.sub(r'meshdir="[^"]*"', f'meshdir="{(root / "meshes").as_posix()}"', assets)
    chain = _inner((root / "chain.xml").read_text())
    chain = re.sub(r'<body name="(panda0_[^"]+)"', r'<body name="\1" gravcomp="1"', chain)
    actuators = _inner((root / "actuator.xml").read_text())
    for k, (lo, hi) in _PANDA_RANGE.items():
        lo, hi = lo + JOINT_OFFSETS[k - 1], hi + JOINT_OFFSETS[k - 1]
        chain, n1 = re.subn(rf'(name="robot:panda0_joint{k}" range=")[^"]*"', rf'\g<1>{lo:.4f} {hi:.4f}"', chain)
        actuators, n2 = re.subn(rf'(joint="robot:panda0_joint{k}"[^>]*ctrlrange=")[^"]*"', rf'\g<1>{lo:.4f} {hi:.4f}"',
                                actuators)
        if n1 != 1 or n2 != 1:
            raise SceneUnavailable("franka_assets_unexpected", f"joint {k} range/ctrlrange not found once")
    objects = "\n".join(
        f'    <body name="{name}" pos="{pos}"><geom name="{name}" type="{kind}" size="{size}" rgba="{rgba}"/></body>'
        for name, kind, size, pos, rgba in OBJECTS)
    return f"""<mujoco model="worldforge_panda_scene">
  {assets}
  <visual><global offwidth="{max(width, 640)}" offheight="{max(height, 480)}"/></visual>
  <worldbody>
    <light directional="true" diffuse=".8 .8 .8" pos="0 0 3" dir="0 0 -1"/>
    <light diffuse=".5 .5 .5" pos="1.5 1.5 2" dir="-1 -1 -1.5"/>
    <geom name="floor" type="plane" pos="0 0 -0.75" size="3 3 0.1" rgba=".3 .32 .35 1"/>
    <body name="table" pos="0.35 0 -0.025">
      <geom name="table" type="box" size="0.75 0.6 0.025" rgba=".62 .5 .38 1"/>
      <geom name="table_leg_1" type="box" pos="0.7 0.55 -0.36" size="0.03 0.03 0.335" rgba=".4 .3 .2 1"/>
      <geom name="table_leg_2" type="box" pos="0.7 -0.55 -0.36" size="0.03 0.03 0.335" rgba=".4 .3 .2 1"/>
      <geom name="table_leg_3" type="box" pos="-0.7 0.55 -0.36" size="0.03 0.03 0.335" rgba=".4 .3 .2 1"/>
      <geom name="table_leg_4" type="box" pos="-0.7 -0.55 -0.36" size="0.03 0.03 0.335" rgba=".4 .3 .2 1"/>
    </body>
{objects}
    <camera name="front" pos="1.9 0 0.9" xyaxes="0 1 0 -0.42 0 0.9"/>
    <camera name="side" pos="0.5 -1.7 0.7" xyaxes="1 0 0 0 0.38 0.92"/>
    <body name="panda_mount" pos="0 0 {TABLE_TOP_Z}">
{chain}
    </body>
  </worldbody>
  <contact><exclude body1="panda0_link0" body2="table"/></contact>
  {actuators}
</mujoco>
"""
