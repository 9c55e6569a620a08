"""Models trained here, on simulated data: scripted reach demonstrations in the MuJoCo Panda scene, a LeRobot
Diffusion policy and a LeWorldModel cost model trained on them (``worldforge-ros train-reach``).

Everything written carries a ``TRAINED_HERE.txt`` label: these are small models trained on this machine from
simulated demonstrations, good enough to make candidate rankings mean something in the demo and the success-rate
benchmark, not robot policies.
"""


def import_torch_before_gl() -> None:
    """Load torch's native stack (torchvision ops, and triton through torch._dynamo) before the scene's first
    render: loading libtriton after an EGL context exists in the process crashes it (SIGSEGV, seen here with
    torch 2.14.1 and MUJOCO_GL=egl). Every entry point that renders and then runs LeRobot or LeWM calls this
    first."""
    import torchvision.ops  # noqa: F401
