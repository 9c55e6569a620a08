#!/usr/bin/env python3
"""Mutation check of the safety code (issue 17, item 8): every one-line mutant must be killed by its tests.

Each mutant is applied to a temporary COPY of the repository (worldforge_ros/, test/, config/, manifests/, launch/,
pytest.ini; install/ is a symlink to the built tree, read-only) -- the working tree is never modified. The copy
is first run unmutated (baseline: the selected tests must pass, else a "kill" would prove nothing), then each
mutant runs only its relevant tests; pytest failing (exit 1) = killed. A mutant whose ``old`` text does not occur
exactly once, or that no longer compiles, is an error (exit 2), never counted as killed.

    python test/mutation/run_mutants.py [--only NAME[,NAME]] [--tests FILE[,FILE]] [--list] [--keep]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import py_compile
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COPY = ("worldforge_ros", "test", "config", "manifests", "launch", "pytest.ini", "package.xml", "setup.py")


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    what: str


GATE = "worldforge_ros/core/approval.py"
UNIT_GATE = ("test/unit/test_approval_gate.py", "test/unit/test_gate_failure_paths.py")
MUTANTS = (
    Mutant("dry_run_default_flipped", "worldforge_ros/nodes/approval_node.py",
           'ParamSpec("execution_enabled", False,', 'ParamSpec("execution_enabled", True,',
           ("test/integration/test_node_defaults.py",), "the gate's own default enables execution"),
    Mutant("register_skips_digest", GATE,
           "if sha256_digest(plan_json) != plan.plan_digest:", "if False:",
           UNIT_GATE, "a plan whose JSON does not hash to its digest is accepted"),
    Mutant("execute_skips_digest_binding", GATE,
           "if approval.plan.plan_digest != plan_digest:", "if False:",
           UNIT_GATE, "an approval executes a plan digest it was not given for"),
    Mutant("from_json_skips_digest", "worldforge_ros/core/plan.py",
           "            plan.verify_digest(expected_digest)", "            pass",
           ("test/unit/test_plan_record.py", "test/unit/test_known_answers.py"),
           "a recorded plan is rebuilt without checking its expected digest"),
    Mutant("skip_start_state_check", GATE,
           "if deviation > approval.tolerance:", "if False:",
           UNIT_GATE, "execution starts from a drifted start state"),
    Mutant("skip_expiry", GATE,
           "if now_ns > approval.expires_at_ns:", "if False:",
           UNIT_GATE, "an expired approval still executes"),
    Mutant("allow_reuse", GATE,
           "if approval.used:", "if False:",
           UNIT_GATE, "one approval executes twice"),
    Mutant("ttl_not_capped", GATE,
           "ttl = min(ttl_s, self.default_ttl_s) if ttl_s > 0 else self.default_ttl_s",
           "ttl = ttl_s if ttl_s > 0 else self.default_ttl_s",
           UNIT_GATE, "a request asks for a longer approval than the gate allows"),
    Mutant("approve_infeasible", GATE,
           "if not plan.selected_feasible:", "if False:",
           UNIT_GATE, "a plan whose selected candidate is infeasible is approved"),
    Mutant("reverse_direction_check", "worldforge_ros/core/selection.py",
           "best_value = arr.min() if lower_is_better else arr.max()",
           "best_value = arr.max() if lower_is_better else arr.min()",
           ("test/unit/test_selection.py",), "check_scores accepts a best_index from the wrong end"),
    Mutant("reverse_selection", "worldforge_ros/core/selection.py",
           "chosen = int(np.argmin(masked) if lower_is_better else np.argmax(masked))",
           "chosen = int(np.argmax(masked) if lower_is_better else np.argmin(masked))",
           ("test/unit/test_selection.py", "test/unit/test_planning_core.py",
            "test/integration/test_direction_oracle.py"), "the planner picks the worst candidate"),
    Mutant("drop_redaction", "worldforge_ros/core/redaction.py",
           '    """Apply every text rule: URLs, bearer tokens, ``key=value`` and ``key: value`` secrets."""',
           '    """Apply every text rule: URLs, bearer tokens, ``key=value`` and ``key: value`` secrets."""\n'
           "    return text",
           ("test/unit/test_redaction_events.py",), "redact_text returns its input"),
    Mutant("break_chain_link_format", "worldforge_ros/evidence/chain.py",
           'return chain_digest(prev_digest, f"\\n{topic}\\n{rec_digest}")',
           'return chain_digest(prev_digest, f"{topic}\\n{rec_digest}")',
           ("test/unit/test_known_answers.py", "test/evidence/test_verify_tamper.py"),
           "link digest no longer the documented formula (writer and verifier change together)"),
    Mutant("chain_link_ignores_prev", "worldforge_ros/evidence/chain.py",
           'return chain_digest(prev_digest, f"\\n{topic}\\n{rec_digest}")',
           'return chain_digest(GENESIS_DIGEST, f"\\n{topic}\\n{rec_digest}")',
           ("test/unit/test_known_answers.py", "test/evidence/test_verify_tamper.py"),
           "links no longer chain: reorders/drops go unnoticed by the digest"),
    Mutant("canonical_json_allows_nan", "worldforge_ros/core/digests.py",
           "ensure_ascii=False, allow_nan=False,", "ensure_ascii=False, allow_nan=True,",
           ("test/unit/test_digests.py", "test/unit/test_known_answers.py"), "a NaN plan gets a digest"),
    Mutant("gr00t_http_no_size_cap", "worldforge_ros/providers/gr00t/http_transport.py",
           "if size > self.max_response_bytes:", "if False:",
           ("test/runtimes/test_gr00t_http.py",), "a GR00T HTTP reply of any size is read"),
)


def make_copy(dest: Path) -> None:
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    (dest / "install").symlink_to(ROOT / "install", target_is_directory=True)


def apply(copy: Path, m: Mutant) -> None:
    target = copy / m.path
    text = target.read_text()
    count = text.count(m.old)
    if count != 1:
        raise SystemExit(f"[mutate] {m.name}: `{m.old}` occurs {count} times in {m.path} (need exactly 1): "
                         "the mutant no longer applies -- update test/mutation/run_mutants.py")
    target.write_text(text.replace(m.old, m.new, 1))
    py_compile.compile(str(target), doraise=True, cfile=str(copy / ".mutant.pyc"))


def run_tests(copy: Path, tests: tuple[str, ...], log: Path, timeout: float) -> tuple[int, float]:
    env = os.environ.copy()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["ROS_LOG_DIR"] = str(copy / "ros_log")
    started = time.monotonic()
    with open(log, "wb") as out:
        try:
            rc = subprocess.run([sys.executable, "-m", "pytest", *tests, "-x", "-q", "-p", "no:cacheprovider",
                                 ], cwd=copy, env=env, stdout=out, stderr=subprocess.STDOUT,
                                timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = -1
    return rc, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated mutant names")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies (paths are printed)")
    parser.add_argument("--tests", default="", help="comma-separated test files replacing each mutant's own "
                        "(to prove that one test alone kills a mutant)")
    parser.add_argument("--timeout", type=float, default=300.0, help="per test run (s)")
    args = parser.parse_args(argv)
    mutants = MUTANTS
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {m.name for m in MUTANTS}
        if unknown:
            parser.error(f"unknown mutants {sorted(unknown)}")
        mutants = tuple(m for m in MUTANTS if m.name in wanted)
    if args.tests:
        mutants = tuple(dataclasses.replace(m, tests=tuple(args.tests.split(","))) for m in mutants)
    if args.list:
        for m in mutants:
            print(f"{m.name:30} {m.path:50} {m.what}")
        return 0
    if "ROS_DOMAIN_ID" not in os.environ:
        os.environ["ROS_DOMAIN_ID"] = str(200 + random.randrange(31))
    if not (ROOT / "install" / "worldforge_ros").is_dir():
        print("[mutate] install/ missing: run scripts/build", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="wfros-mutants-"))
    print(f"[mutate] ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']} copies under {work}", file=sys.stderr)
    try:
        # Baseline: the unmutated copy passes every selected test (a failure here would fake kills).
        base = work / "baseline"
        base.mkdir()
        make_copy(base)
        all_tests = tuple(sorted({t for m in mutants for t in m.tests}))
        rc, secs = run_tests(base, all_tests, work / "baseline.log", args.timeout * 2)
        print(f"[mutate] baseline ({len(all_tests)} files) rc={rc} in {secs:.1f} s", file=sys.stderr)
        if rc != 0:
            print((work / "baseline.log").read_text()[-4000:], file=sys.stderr)
            print("[mutate] baseline fails: fix the tests first", file=sys.stderr)
            return 2
        rows, survived, errors = [], 0, 0
        for m in mutants:
            copy = work / m.name
            copy.mkdir()
            make_copy(copy)
            apply(copy, m)
            rc, secs = run_tests(copy, m.tests, work / f"{m.name}.log", args.timeout)
            if rc == 1:
                verdict = "killed"
            elif rc == 0:
                verdict, survived = "SURVIVED", survived + 1
            else:
                verdict, errors = f"ERROR rc={rc}", errors + 1
            rows.append((m.name, m.path, ", ".join(Path(t).name for t in m.tests), f"{secs:.1f}", verdict))
            print(f"[mutate] {m.name}: {verdict} ({secs:.1f} s)", file=sys.stderr)
            if not args.keep:
                shutil.rmtree(copy, ignore_errors=True)
        header = ("mutant", "file", "tests run", "s", "killed")
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
        print(line(header))
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for r in rows:
            print(line(r))
        killed = sum(r[4] == "killed" for r in rows)
        print(f"\n{killed}/{len(rows)} mutants killed, {survived} survived, {errors} errors")
        if survived or errors:
            print(f"[mutate] logs: {work}", file=sys.stderr)
            return 1
        return 0
    finally:
        if not args.keep and not (locals().get("survived") or locals().get("errors")):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
