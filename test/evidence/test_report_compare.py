"""report renders Markdown + HTML with real PNG plots; compare finds what changed between two runs; CLI."""

from __future__ import annotations

import json

from worldforge_ros.cli import main
from worldforge_ros.evidence.compare import compare_bags
from worldforge_ros.evidence.report import render_report
from worldforge_ros.evidence.summary import safe_text

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_renders_plots_and_tables(make_bag, tmp_path):
    bag = make_bag(events=8)
    files = render_report(bag.path, tmp_path / "out")
    assert files.verification.ok
    names = sorted(p.name for p in files.images)
    assert names == ["event-timeline.png", "plan-1-scores.png", "plan-1-trajectories.png"]
    for image in files.images:
        data = image.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000
    md = files.markdown.read_text()
    html = files.html.read_text()
    assert "**Verification PASSED**" in md and "Verification PASSED" in html
    assert bag.plan.plan_digest in md and bag.plan.plan_digest in html
    assert "](plan-1-trajectories.png)" in md
    assert html.count("data:image/png;base64,") == 3  # self-contained
    assert "approval-1" in html and "exec-1" in html and "dry_run" in html
    assert f"{len(bag.plan.candidates)}" in md and "6 (selected)" in md or "(selected)" in md


def test_report_default_dir_is_the_run_reports_folder(make_bag):
    bag = make_bag("run-a", events=2)
    files = render_report(bag.path.parent)  # a run workspace
    assert files.markdown == bag.path.parent / "reports" / "report.md"


def test_report_of_a_tampered_bag_says_failed(make_bag, rewrite_bag, tmp_path):
    bag = make_bag(events=3)

    def edit(messages):
        topic, t, data = messages[0]
        messages[0] = [topic, t, data.replace(b"policy call 0", b"policy call 5")]
        return messages

    files = render_report(rewrite_bag(bag.path, edit), tmp_path / "out")
    assert not files.verification.ok
    assert "**Verification FAILED**" in files.markdown.read_text()


def test_safe_text_strips_secrets():
    text = "GET https://user:pw@host.example/ckpt?X-Amz-Signature=abc123&token=zzz failed token=abc Bearer eyJhb.c"
    shown = safe_text(text)
    assert "abc123" not in shown and "zzz" not in shown and "pw@" not in shown and "eyJhb" not in shown
    assert "https://host.example/ckpt" in shown
    assert safe_text("x" * 500, limit=50).endswith("…") and len(safe_text("x" * 500, limit=50)) == 50


def test_compare_finds_changed_scores_and_selection(make_bag):
    a = make_bag("a", events=4, scores=[1.0, 0.5, 2.0, 3.0, 1.5, 0.9, 4.0, 2.5], event_ms=10.0, run_id="run-a")
    b = make_bag("b", events=4, scores=[1.0, 0.5, 2.0, 0.1, 1.5, 0.9, 4.0, 2.5], event_ms=30.0, run_id="run-b")
    result = compare_bags(a.path, b.path)
    assert result.changed and result.verified == (True, True)
    assert result.changes() == ["scores", "selections"]
    (plan,) = result.plans
    assert plan.score_changes == [(3, 3.0, 0.1)]
    assert plan.selected == (1, 3)
    lat = result.latencies[("lerobot", "policy")]
    assert (lat[0].median_ms, lat[1].median_ms) == (10.0, 30.0)
    text = result.to_markdown()
    assert "| 3 | 3 | 0.1 |" in text and "1 -> 3" in text and "+200.0%" in text

    same = compare_bags(a.path, a.path)
    assert not same.changed and same.plans[0].score_changes == []


def test_cli_verify_report_compare(make_bag, rewrite_bag, tmp_path, capsys):
    bag = make_bag(events=2)
    assert main(["evidence", "verify", str(bag.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    tampered = rewrite_bag(bag.path, lambda m: m[:2] + m[4:])
    assert main(["evidence", "verify", str(tampered)]) == 1
    assert "FAILED at record seq 2" in capsys.readouterr().out
    assert main(["evidence", "report", str(bag.path), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.html").exists()
    assert main(["evidence", "compare", str(bag.path), str(tampered), "--out", str(tmp_path / "c.md")]) == 0
    assert "Evidence comparison" in (tmp_path / "c.md").read_text()
    assert main(["evidence", "verify", str(tmp_path / "nothing-here")]) == 1


def test_verify_and_report_run_with_rclpy_unavailable(make_bag, tmp_path):
    """The laptop case: importing rclpy is impossible, the evidence tools still work."""
    import subprocess
    import sys
    from pathlib import Path

    bag = make_bag(events=2)
    repo = Path(__file__).resolve().parents[2]
    code = ("import sys; sys.modules['rclpy'] = None; sys.path.insert(0, sys.argv[1])\n"
            "from worldforge_ros.cli import main\n"
            "rc = main(['evidence', 'verify', sys.argv[2]]) + main(['evidence', 'report', sys.argv[2], '--out', "
            "sys.argv[3]])\n"
            "assert 'rclpy' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
            "sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(repo), str(bag.path), str(tmp_path / "laptop")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "laptop" / "report.html").exists()
