"""Compare two runs' evidence: providers, candidate counts, scores, selections and latencies.

Plans are paired by their order in each bag (the n-th plan of run A with the n-th plan of run B); scores are
compared candidate by candidate. The result renders as Markdown (also readable as plain text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .reader import read_bag
from .summary import LatencyStats, RunRecords, latency_stats, split_records
from .verify import verify_contents


@dataclass
class PlanDiff:
    """Differences between the n-th plans of two runs."""

    position: int
    plan_a: str
    plan_b: str
    candidates: tuple[int, int]
    selected: tuple[int, int]
    selected_provider: tuple[str, str]
    score_provider: tuple[str, str]
    policy_providers: tuple[list[str], list[str]]
    score_changes: list[tuple[int, float, float]] = field(default_factory=list)
    """``(candidate index, score A, score B)`` for every candidate whose score differs."""

    @property
    def changed(self) -> bool:
        return (self.candidates[0] != self.candidates[1] or self.selected[0] != self.selected[1]
                or self.selected_provider[0] != self.selected_provider[1]
                or self.score_provider[0] != self.score_provider[1]
                or self.policy_providers[0] != self.policy_providers[1] or bool(self.score_changes))


@dataclass
class Comparison:
    """What changed from run A to run B."""

    path_a: str
    path_b: str
    run_a: str
    run_b: str
    verified: tuple[bool, bool]
    providers: tuple[list[str], list[str]]
    plan_counts: tuple[int, int]
    plans: list[PlanDiff]
    latencies: dict[tuple[str, str], tuple[LatencyStats | None, LatencyStats | None]]

    @property
    def changed(self) -> bool:
        return bool(self.changes())

    def changes(self) -> list[str]:
        """Names of the aspects that differ (providers, plans, candidates, scores, selections, event counts)."""
        out = []
        if self.providers[0] != self.providers[1]:
            out.append("providers")
        if self.plan_counts[0] != self.plan_counts[1]:
            out.append("plan count")
        if any(p.candidates[0] != p.candidates[1] for p in self.plans):
            out.append("candidate counts")
        if any(p.score_changes for p in self.plans):
            out.append("scores")
        if any(p.selected[0] != p.selected[1] or p.selected_provider[0] != p.selected_provider[1] for p in self.plans):
            out.append("selections")
        if any(p.score_provider[0] != p.score_provider[1] or p.policy_providers[0] != p.policy_providers[1]
               for p in self.plans):
            out.append("plan providers")
        if any((a.count if a else 0) != (b.count if b else 0) for a, b in self.latencies.values()):
            out.append("event counts")
        return out

    def to_markdown(self) -> str:
        return render_comparison(self)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _plan_diff(position: int, a: Any, b: Any) -> PlanDiff:
    def sel_provider(plan: Any) -> str:
        idx = int(plan.selected_index)
        return plan.candidates[idx].policy_provider if 0 <= idx < len(plan.candidates) else "-"

    diff = PlanDiff(position, a.plan_id, b.plan_id, (len(a.candidates), len(b.candidates)),
                    (int(a.selected_index), int(b.selected_index)), (sel_provider(a), sel_provider(b)),
                    (a.score_provider, b.score_provider), (list(a.policy_providers), list(b.policy_providers)))
    for ca, cb in zip(a.candidates, b.candidates):
        sa, sb = float(ca.score), float(cb.score)
        if not _same(sa, sb):
            diff.score_changes.append((int(ca.index), sa, sb))
    return diff


def _providers(records: RunRecords) -> list[str]:
    names = {e.provider for e in records.event_messages}
    for rec in records.plans:
        names.update(rec.message.policy_providers)
        names.add(rec.message.score_provider)
    return sorted(n for n in names if n)


def compare_bags(a: Path | str, b: Path | str) -> Comparison:
    """Compare the runs recorded in bags ``a`` and ``b``."""
    contents_a, contents_b = read_bag(a), read_bag(b)
    rec_a, rec_b = split_records(contents_a), split_records(contents_b)
    plans = [_plan_diff(i + 1, pa.message, pb.message) for i, (pa, pb) in enumerate(zip(rec_a.plans, rec_b.plans))]
    lat_a, lat_b = latency_stats(rec_a.event_messages), latency_stats(rec_b.event_messages)
    return Comparison(
        str(contents_a.path), str(contents_b.path), contents_a.custom_data.get("run_id", "?"),
        contents_b.custom_data.get("run_id", "?"),
        (verify_contents(contents_a).ok, verify_contents(contents_b).ok), (_providers(rec_a), _providers(rec_b)),
        (len(rec_a.plans), len(rec_b.plans)), plans,
        {key: (lat_a.get(key), lat_b.get(key)) for key in sorted(set(lat_a) | set(lat_b))})


def _num(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.4g}"


def render_comparison(c: Comparison) -> str:
    """Markdown summary of a :class:`Comparison`."""
    lines = [f"# Evidence comparison: {c.run_a} -> {c.run_b}", "",
             f"- A: `{c.path_a}` (verification {'passed' if c.verified[0] else 'FAILED'})",
             f"- B: `{c.path_b}` (verification {'passed' if c.verified[1] else 'FAILED'})",
             "- Overall: " + ("changed: " + ", ".join(c.changes()) if c.changed else
                              "no changes in providers, candidates, scores, selections or event counts"),
             "", "## Providers", ""]
    added = sorted(set(c.providers[1]) - set(c.providers[0]))
    removed = sorted(set(c.providers[0]) - set(c.providers[1]))
    lines.append(f"A: {', '.join(c.providers[0]) or '-'}; B: {', '.join(c.providers[1]) or '-'}"
                 + (f"; added: {', '.join(added)}" if added else "")
                 + (f"; removed: {', '.join(removed)}" if removed else ""))
    lines += ["", f"## Plans (A: {c.plan_counts[0]}, B: {c.plan_counts[1]})", ""]
    if c.plans:
        lines += ["| # | plan A | plan B | candidates | selected | selected policy | score provider "
                  "| scores changed |",
                  "|---|---|---|---|---|---|---|---|"]
        for p in c.plans:
            arrow = lambda pair: f"{pair[0]}" if pair[0] == pair[1] else f"{pair[0]} -> {pair[1]}"  # noqa: E731
            lines.append(f"| {p.position} | {p.plan_a} | {p.plan_b} | {arrow(p.candidates)} | "
                         f"{arrow(p.selected)} | {arrow(p.selected_provider)} | {arrow(p.score_provider)} | "
                         f"{len(p.score_changes)} |")
        for p in c.plans:
            if p.score_changes:
                lines += ["", f"### Plan {p.position}: score changes", "", "| candidate | A | B | delta |",
                          "|---|---|---|---|"]
                lines += [f"| {i} | {_num(sa)} | {_num(sb)} | {_num(sb - sa)} |" for i, sa, sb in p.score_changes]
    lines += ["", "## Latencies (median duration_ms per provider/operation)", "",
              "| provider | operation | events A | median A | events B | median B | change |",
              "|---|---|---|---|---|---|---|"]
    for (provider, operation), (la, lb) in c.latencies.items():
        ma = la.median_ms if la else float("nan")
        mb = lb.median_ms if lb else float("nan")
        change = f"{(mb - ma) / ma * 100:+.1f}%" if la and lb and ma > 0 else "-"
        lines.append(f"| {provider} | {operation} | {la.count if la else 0} | {_num(ma)} | {lb.count if lb else 0} | "
                     f"{_num(mb)} | {change} |")
    return "\n".join(lines) + "\n"
