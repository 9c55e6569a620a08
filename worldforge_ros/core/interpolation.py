"""Sampling a timed joint trajectory the way a joint trajectory controller does.

Between two points with positions and velocities the sample is a cubic Hermite segment (position and velocity
continuous); before the first point the controller moves from the start state toward point 0.
"""

from __future__ import annotations

import numpy as np


def sample(start: np.ndarray, positions: np.ndarray, velocities: np.ndarray, times_s: np.ndarray,
           t: float) -> tuple[np.ndarray, np.ndarray]:
    """Desired (position, velocity) at ``t`` seconds after the trajectory start.

    ``start`` (J,) is the state at t=0; ``positions``/``velocities`` are (T, J) at ``times_s`` (T,) > 0, strictly
    increasing. After the last point the last point is held with zero velocity.
    """
    if t >= times_s[-1]:
        return positions[-1].copy(), np.zeros_like(positions[-1])
    k = int(np.searchsorted(times_s, t, side="right"))
    if k == 0:
        p0, v0, t0 = start, np.zeros_like(start), 0.0
    else:
        p0, v0, t0 = positions[k - 1], velocities[k - 1], times_s[k - 1]
    p1, v1, t1 = positions[k], velocities[k], times_s[k]
    h = t1 - t0
    s = (t - t0) / h
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
    pos = h00 * p0 + h10 * h * v0 + h01 * p1 + h11 * h * v1
    d00, d10, d01, d11 = 6 * s**2 - 6 * s, 3 * s**2 - 4 * s + 1, -6 * s**2 + 6 * s, 3 * s**2 - 2 * s
    vel = (d00 * p0 + d10 * h * v0 + d01 * p1 + d11 * h * v1) / h
    return pos, vel
