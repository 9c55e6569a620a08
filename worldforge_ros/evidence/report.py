"""Render an evidence bag as a Markdown and a self-contained HTML report with matplotlib plots.

Top: verification status. Then the bag (topics, QoS, sizes), each plan (candidate trajectories per joint with the
selected one highlighted, scores, candidate table, record size), provider-event latencies and a timeline, and the
approvals and executions. Only recorded (redacted) fields are shown, passed through :func:`~.summary.safe_text`.
PNG files are written next to the reports; the HTML embeds them as base64 so it can be mailed on its own.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .plots import plot_candidates, plot_policy_run, plot_scores, plot_timeline, stamp_seconds
from .reader import BagContents, read_bag
from .summary import latency_stats, safe_text, split_records
from .verify import VerificationReport, verify_contents

Block = tuple  # ("h1"|"h2"|"h3"|"p", text) | ("table", headers, rows) | ("img", path, alt)


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`render_report` wrote."""

    markdown: Path
    html: Path
    images: list[Path]
    verification: VerificationReport


def default_report_dir(bag_dir: Path) -> Path:
    """``<run>/reports`` for a run workspace's ``bag/``, else ``<bag>-report`` beside the bag."""
    if bag_dir.name == "bag":
        return bag_dir.parent / "reports"
    return bag_dir.parent / f"{bag_dir.name}-report"


def _fmt(value: float, digits: int = 4) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}g}"


def _yes(flag: Any) -> str:
    return "yes" if bool(flag) else "no"


def preview_events(events: list[Any], plan_digest: str) -> list[Any]:
    """Recorded ``scene``/``preview`` events whose metadata names ``plan_digest``."""
    out = []
    for ev in events:
        if ev.provider != "scene" or ev.operation != "preview" or ev.phase != "success":
            continue
        try:
            meta = json.loads(ev.metadata_json or "{}")
        except ValueError:
            continue
        if meta.get("plan_digest") == plan_digest and isinstance(meta.get("files"), dict):
            out.append(meta)
    return out


def _preview_blocks(n: int, plan: Any, events: list[Any], run_dir: Path | None, out_dir: Path,
                    images: list[Path]) -> list[Block]:
    """Embed the plan's preview images when the files sit in the run workspace next to the bag and their sha256
    matches the recorded event; otherwise say why each one is not shown."""
    metas = preview_events(events, plan.plan_digest)
    if not metas:
        return []
    blocks: list[Block] = [("h3", f"Plan {n}: scene previews")]
    problems: list[str] = []
    root = run_dir.resolve() if run_dir is not None else None
    for rel, recorded in sorted(metas[-1]["files"].items()):
        rel_s = safe_text(str(rel))
        if root is None:
            problems.append(f"{rel_s}: the bag is not in a run workspace")
            continue
        path = (root / str(rel)).resolve()
        if not path.is_relative_to(root) or path.suffix != ".png":
            problems.append(f"{rel_s}: refused (outside the run workspace or not a PNG)")
            continue
        if not path.is_file():
            problems.append(f"{rel_s}: missing next to the bag")
            continue
        data = path.read_bytes()
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != recorded:
            problems.append(f"{rel_s}: sha256 does not match the recorded digest "
                            f"(recorded `{safe_text(str(recorded))}`, file `{actual}`): not shown")
            continue
        copy = out_dir / f"plan-{n}-preview-{path.name}"
        copy.write_bytes(data)
        images.append(copy)
        k = path.stem.rsplit("-", 1)[-1]
        what = f"selected candidate, strip frame {k}" if path.stem.startswith("selected-strip-") \
            else f"end pose of candidate {k}"
        blocks.append(("img", copy, f"plan {n} preview: {what} ({rel_s}, sha256 verified)"))
    if problems:
        blocks.append(("p", "**Previews not shown**: " + "; ".join(problems)))
    return blocks


def _plan_blocks(n: int, rec: Any, out_dir: Path, images: list[Path], events: list[Any] = (),
                 run_dir: Path | None = None) -> list[Block]:
    plan = rec.message
    blocks: list[Block] = [("h3", f"Plan {n}: {safe_text(plan.plan_id)}"), ("p", f"Plan digest: `{plan.plan_digest}`")]
    blocks.append(("table", ["task", "embodiment", "policy providers", "score provider", "candidates", "selected",
                             "direction", "record size (bytes)"],
                   [[safe_text(plan.task), safe_text(plan.embodiment), ", ".join(plan.policy_providers),
                     plan.score_provider, str(len(plan.candidates)), str(plan.selected_index),
                     "lower is better" if plan.lower_is_better else "higher is better", str(len(rec.data))]]))
    if plan.candidates:
        traj = plot_candidates(plan, out_dir / f"plan-{n}-trajectories.png")
        scores = plot_scores(plan, out_dir / f"plan-{n}-scores.png")
        images += [traj, scores]
        blocks += [("img", traj, f"plan {n} candidate trajectories per joint, selected #{plan.selected_index} "
                                 "highlighted"), ("img", scores, f"plan {n} scores per candidate")]
    rows = [[str(c.index) + (" (selected)" if int(c.index) == int(plan.selected_index) else ""), c.policy_provider,
             _fmt(float(c.score)), _yes(c.feasible), safe_text("; ".join(c.violations)) or "-",
             "x".join(str(int(s)) for s in c.raw_shape), str(len(c.trajectory.points))]
            for c in plan.candidates]
    blocks.append(("table", ["candidate", "policy", "score", "feasible", "violations", "raw shape", "points"], rows))
    blocks += _preview_blocks(n, plan, list(events), run_dir, out_dir, images)
    return blocks


def _event_blocks(records: Any, out_dir: Path, images: list[Path]) -> list[Block]:
    events = records.event_messages
    blocks: list[Block] = [("h2", f"Provider events ({len(events)})")]
    if not events:
        return blocks + [("p", "No provider events recorded.")]
    stats = latency_stats(events)
    blocks.append(("table", ["provider", "operation", "events", "failures", "median ms", "p95 ms", "max ms"],
                   [[p, o, str(s.count), str(s.failures), _fmt(s.median_ms), _fmt(s.p95_ms), _fmt(s.max_ms)]
                    for (p, o), s in stats.items()]))
    decisions = [(f"plan {r.message.plan_id}", stamp_seconds(r.message.stamp)) for r in records.plans]
    decisions += [(f"approval {r.message.approval_id}", stamp_seconds(r.message.approved_at))
                  for r in records.approvals]
    decisions += [(f"{r.message.phase} {r.message.execution_id}", stamp_seconds(r.message.stamp))
                  for r in records.executions]
    timeline = plot_timeline(events, decisions, out_dir / "event-timeline.png")
    images.append(timeline)
    blocks.append(("img", timeline, "provider event timeline with latencies"))
    failures = [e for e in events if e.phase != "success"][:20]
    if failures:
        blocks.append(("h3", "Failures and retries (first 20)"))
        blocks.append(("table", ["provider", "operation", "phase", "attempt", "status", "message"],
                       [[e.provider, e.operation, e.phase, f"{e.attempt}/{e.max_attempts}", str(e.status_code),
                         safe_text(e.message)] for e in failures]))
    return blocks


def _decision_blocks(records: Any) -> list[Block]:
    blocks: list[Block] = [("h2", f"Approvals ({len(records.approvals)})")]
    blocks.append(("table", ["approval", "plan digest", "approved", "operator", "workspace clear", "e-stop",
                             "operator present", "controller isolated", "tolerance", "execution enabled",
                             "certifies safety", "error"],
                   [[safe_text(a.approval_id), f"`{a.plan_digest}`", _yes(a.approved), safe_text(a.operator_id),
                     _yes(a.workspace_clear), _yes(a.emergency_stop_available), _yes(a.operator_present),
                     _yes(a.controller_isolated), _fmt(float(a.start_tolerance)), _yes(a.execution_enabled),
                     _yes(a.worldforge_certifies_robot_safety),
                     f"{a.error_code} {safe_text(a.error_message)}".strip()]
                    for a in (r.message for r in records.approvals)]))
    blocks.append(("h2", f"Executions ({len(records.executions)})"))
    blocks.append(("table", ["execution", "approval", "phase", "dry run", "error", "controller result",
                             "controller action", "start deviation", "points"],
                   [[safe_text(x.execution_id), safe_text(x.approval_id), x.phase, _yes(x.dry_run),
                     f"{x.error_code} {safe_text(x.error_message)}".strip(),
                     f"{x.controller_error_code} {safe_text(x.controller_error_string)}".strip(),
                     safe_text(x.controller_action), _fmt(float(x.start_deviation)), str(len(x.trajectory.points))]
                    for x in (r.message for r in records.executions)]))
    return blocks


def _policy_run_blocks(contents: BagContents, out_dir: Path, images: list[Path]) -> list[Block]:
    """Supervised policy runs: each run's chunks (phase, score, check) and a plot of them against the bounds of
    the envelope they ran under."""
    import json

    from .topics import CHUNKS_TOPIC, ENVELOPES_TOPIC

    envelopes = {(r.message.envelope_id, r.message.envelope_digest): r.message for r in contents.records
                 if r.topic == ENVELOPES_TOPIC and r.message is not None and r.message.approved}
    runs: dict[str, list[Any]] = {}
    for rec in contents.records:
        if rec.topic == CHUNKS_TOPIC and rec.message is not None and rec.message.trajectory.points:
            runs.setdefault(rec.message.policy_run_id, []).append(rec.message)
    if not runs:
        return []
    blocks: list[Block] = [("h2", f"Supervised policy runs ({len(runs)})")]
    for n, (run_id, chunks) in enumerate(runs.items(), start=1):
        first = chunks[0]
        env = envelopes.get((first.envelope_id, first.envelope_digest))
        data = json.loads(env.envelope_json) if env is not None else {}
        names = data.get("joint_names") or list(first.trajectory.joint_names)
        bounds = (data["position_min"], data["position_max"]) if "position_min" in data else None
        blocks.append(("h3", f"Run {safe_text(run_id)} under envelope {safe_text(first.envelope_id)} "
                             f"(`{safe_text(first.envelope_digest)}`)"))
        blocks.append(("table", ["chunk", "phase", "score", "passed", "violations"],
                       [[str(c.chunk_index), safe_text(c.phase), _fmt(float(c.score)), _yes(c.passed),
                         safe_text(", ".join(c.violations)) or "-"] for c in chunks]))
        path = plot_policy_run(names, bounds, [(float(c.elapsed_s), c.trajectory, c.phase) for c in chunks],
                               f"Run {run_id}: chunks against the envelope's position bounds (red)",
                               out_dir / f"policy-run-{n}.png")
        images.append(path)
        blocks.append(("img", path, f"run {run_id} chunks against the envelope bounds"))
    return blocks


def build_blocks(contents: BagContents, verification: VerificationReport,
                 out_dir: Path) -> tuple[list[Block], list[Path]]:
    """The report's content as renderer-neutral blocks, plus the PNG files written for it."""
    records = split_records(contents)
    images: list[Path] = []
    custom = contents.custom_data
    status = "PASSED" if verification.ok else "FAILED"
    blocks: list[Block] = [("h1", f"Evidence report: run {safe_text(custom.get('run_id', '?'))}"),
                           ("p", f"**Verification {status}**: {safe_text(verification.summary(), 600)}")]
    size = contents.mcap_path.stat().st_size if contents.mcap_path.exists() else 0
    blocks.append(("p", f"Bag `{contents.path}`: {size} bytes, {verification.records} records, "
                        f"{verification.links} links; chain head `{custom.get('chain_head', '-')}`; package "
                        f"{safe_text(custom.get('package_version', '?'))}"
                        f"{'; RECOVERED after a crash' if custom.get('recovered') == 'true' else ''}."))
    blocks.append(("table", ["topic", "type", "messages", "offered QoS", "type hash"],
                   [[t.topic, t.msgtype, str(t.message_count), t.offered_qos_profiles or "-", t.type_hash or "-"]
                    for t in contents.topics.values()]))
    blocks.append(("h2", f"Plans ({len(records.plans)})"))
    run_dir = contents.path.parent if contents.path.name == "bag" else None
    for n, rec in enumerate(records.plans, start=1):
        blocks += _plan_blocks(n, rec, out_dir, images, records.event_messages, run_dir)
    blocks += _event_blocks(records, out_dir, images)
    blocks += _decision_blocks(records)
    blocks += _policy_run_blocks(contents, out_dir, images)
    blocks.append(("p", "worldforge_ros does not certify robot safety; this report shows what was recorded."))
    return blocks, images


def to_markdown(blocks: list[Block], out_dir: Path) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "img":
            lines += [f"![{block[2]}]({Path(block[1]).relative_to(out_dir)})", ""]
        elif kind == "table":
            headers, rows = block[1], block[2]
            esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
            lines.append("| " + " | ".join(esc(h) for h in headers) + " |")
            lines.append("|" + "---|" * len(headers))
            lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


def _inline_html(text: str) -> str:
    out = html.escape(text)
    parts = out.split("`")
    out = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = out.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def to_html(blocks: list[Block], title: str) -> str:
    body: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{_inline_html(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline_html(block[1])}</p>")
        elif kind == "img":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode("ascii")
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block[2])}">'
                        f"<figcaption>{html.escape(block[2])}</figcaption></figure>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{_inline_html(str(c))}</td>" for c in row) + "</tr>"
                           for row in block[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
             "th{background:#f2f2f2}img{max-width:100%}code{font-size:12px;background:#f6f6f6}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def render_report(bag: Path | str, out_dir: Path | str | None = None) -> ReportFiles:
    """Write ``report.md``, ``report.html`` and PNG plots for ``bag`` into ``out_dir`` (default beside the bag)."""
    contents = read_bag(bag)
    verification = verify_contents(contents)
    target = Path(out_dir) if out_dir is not None else default_report_dir(contents.path)
    target.mkdir(parents=True, exist_ok=True)
    blocks, images = build_blocks(contents, verification, target)
    md_path, html_path = target / "report.md", target / "report.html"
    md_path.write_text(to_markdown(blocks, target), encoding="utf-8")
    html_path.write_text(to_html(blocks, f"worldforge_ros evidence {contents.custom_data.get('run_id', '')}"),
                         encoding="utf-8")
    return ReportFiles(md_path, html_path, images, verification)
