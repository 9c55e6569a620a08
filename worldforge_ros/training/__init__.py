"""Models trained here, on simulated data: scripted reach demonstrations in the MuJoCo Panda scene, a LeRobot
Diffusion policy and a LeWorldModel cost model trained on them (``worldforge-ros train-reach``).

Everything written carries a ``TRAINED_HERE.txt`` label: these are small models trained on this machine from
simulated demonstrations, good enough to make candidate rankings mean something in the demo and the success-rate
benchmark, not robot policies.
"""


from ..scene import import_torch_before_gl  # noqa: E402  (entry points call it before rendering)

__all__ = ["import_torch_before_gl"]
