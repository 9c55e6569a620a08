"""Matplotlib (Agg) figures for evidence reports: candidate trajectories, scores, event timeline."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PHASE_COLORS = {"success": "tab:green", "failure": "tab:red", "retry": "tab:orange", "budget_exceeded": "tab:purple"}


def stamp_seconds(stamp: Any) -> float:
    """``builtin_interfaces/Time`` or ``Duration`` -> seconds."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def trajectory_arrays(traj: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(times (T,), positions (T, J))`` of a JointTrajectory."""
    times = np.array([stamp_seconds(p.time_from_start) for p in traj.points], dtype=np.float64)
    joints = len(traj.joint_names)
    positions = np.array([np.asarray(p.positions, dtype=np.float64) for p in traj.points]).reshape(len(times), joints) \
        if traj.points else np.zeros((0, joints))
    return times, positions


def _save(fig: Any, path: Path, rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> Path:
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=90, format="png")
    plt.close(fig)
    return path


def plot_candidates(plan: Any, path: Path) -> Path:
    """One subplot per joint: every candidate's positions over time, the selected one thick and black."""
    names = list(plan.candidates[0].trajectory.joint_names) if plan.candidates else []
    joints = max(1, len(names))
    cols = 2 if joints > 1 else 1
    rows = math.ceil(joints / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.3 * rows), squeeze=False, sharex=True)
    cmap = plt.get_cmap("tab10")
    for cand in plan.candidates:
        times, positions = trajectory_arrays(cand.trajectory)
        selected = int(cand.index) == int(plan.selected_index)
        for j in range(min(joints, positions.shape[1])):
            ax = axes[j // cols][j % cols]
            if selected:
                ax.plot(times, positions[:, j], color="black", linewidth=2.6, zorder=5,
                        label=f"selected #{cand.index}")
            else:
                ax.plot(times, positions[:, j], color=cmap(int(cand.index) % 10), linewidth=1.0, alpha=0.6,
                        linestyle="-" if cand.feasible else "--", label=f"#{cand.index}")
    for j in range(rows * cols):
        ax = axes[j // cols][j % cols]
        if j >= joints:
            ax.set_visible(False)
            if j - cols >= 0:
                axes[(j - cols) // cols][j % cols].tick_params(labelbottom=True)
                axes[(j - cols) // cols][j % cols].set_xlabel("time from start (s)")
            continue
        ax.set_title(names[j] if j < len(names) else f"joint {j}", fontsize=9)
        ax.set_ylabel("position")
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("time from start (s)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", fontsize=7, ncol=min(len(labels), 8))
    fig.suptitle(f"Plan {plan.plan_id}: candidate trajectories per joint (dashed = infeasible)", fontsize=10)
    return _save(fig, path, rect=(0, 0.04 + 0.1 / rows, 1, 0.98))


def plot_scores(plan: Any, path: Path) -> Path:
    """Bar per candidate, selected highlighted, infeasible hatched; NaN scores shown as empty bars."""
    idx = [int(c.index) for c in plan.candidates]
    scores = [float(c.score) for c in plan.candidates]
    heights = [0.0 if not math.isfinite(s) else s for s in scores]
    colors = ["tab:green" if i == int(plan.selected_index) else ("lightgray" if not c.feasible else "tab:blue")
              for i, c in zip(idx, plan.candidates)]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    bars = ax.bar(idx, heights, color=colors, edgecolor="black", linewidth=0.5)
    for bar, cand, score in zip(bars, plan.candidates, scores):
        if not cand.feasible:
            bar.set_hatch("//")
        if not math.isfinite(score):
            ax.annotate("n/a", (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom", fontsize=7)
    direction = "lower is better" if plan.lower_is_better else "higher is better"
    ax.set_title(f"Scores from {plan.score_provider or '?'} ({direction}); green = selected, hatched = infeasible",
                 fontsize=9)
    ax.set_xlabel("candidate")
    ax.set_ylabel("score")
    ax.set_xticks(idx)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_timeline(events: Sequence[Any], decisions: Sequence[tuple[str, float]], path: Path) -> Path:
    """Provider events as bars (end = stamp, length = duration_ms) per provider/operation lane; decisions as lines."""
    lanes: dict[str, list[tuple[float, float, str]]] = {}
    ends = [stamp_seconds(e.stamp) for e in events]
    starts = [end - max(0.0, float(e.duration_ms)) / 1000.0 for end, e in zip(ends, events)]
    t0 = min(starts + [t for _, t in decisions], default=0.0)
    for event, start, end in zip(events, starts, ends):
        lanes.setdefault(f"{event.provider}/{event.operation}", []).append((start - t0, end - start, event.phase))
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * max(1, len(lanes))))
    for row, (lane, bars) in enumerate(sorted(lanes.items())):
        for phase in sorted({b[2] for b in bars}):
            spans = [(s, max(w, 1e-4)) for s, w, p in bars if p == phase]
            ax.broken_barh(spans, (row - 0.35, 0.7), color=PHASE_COLORS.get(phase, "tab:gray"), alpha=0.85)
    for label, t in decisions:
        ax.axvline(t - t0, color="black", linestyle=":", linewidth=1)
        ax.text(t - t0, 0.97, label, rotation=90, fontsize=7, va="top", ha="right",
                transform=ax.get_xaxis_transform())
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels(sorted(lanes), fontsize=8)
    ax.set_xlabel("time since first event (s)")
    ax.set_title("Provider events (bar length = duration_ms; green success, red failure, orange retry)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_policy_run(joint_names: Sequence[str], bounds: tuple[Sequence[float], Sequence[float]] | None,
                    chunks: Sequence[tuple[float, Any, str]], title: str, path: Path) -> Path:
    """One subplot per joint: every recorded chunk of a supervised run on the run's clock (``elapsed_s`` +
    time from start; sent solid, dry-run dashed, refused dotted red) against the approved envelope's position
    bounds (red dashed lines)."""
    names = list(joint_names)
    joints = max(1, len(names))
    cols = 2 if joints > 1 else 1
    rows = math.ceil(joints / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.3 * rows), squeeze=False, sharex=True)
    style = {"sent": ("-", None), "succeeded": ("-", None), "dry_run": ("--", None), "checked_out": (":", "tab:red")}
    for n, (elapsed, traj, phase) in enumerate(chunks):
        times, positions = trajectory_arrays(traj)
        order = [list(traj.joint_names).index(j) for j in names if j in list(traj.joint_names)]
        line, color = style.get(phase, ("-", None))
        for j, col in enumerate(order):
            axes[j // cols][j % cols].plot(elapsed + times, positions[:, col], linestyle=line, linewidth=1.4,
                                           color=color or plt.get_cmap("tab10")(n % 10))
    for j in range(rows * cols):
        ax = axes[j // cols][j % cols]
        if j >= joints:
            ax.set_visible(False)
            continue
        if bounds is not None and j < len(bounds[0]):
            for value in (bounds[0][j], bounds[1][j]):
                ax.axhline(value, color="tab:red", linestyle="--", linewidth=1.0)
        ax.set_title(names[j] if j < len(names) else f"joint {j}", fontsize=9)
        ax.set_ylabel("position")
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("run time (s)")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path, rect=(0, 0, 1, 0.97))
