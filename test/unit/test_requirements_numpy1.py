"""The root requirements.txt (the pip step of a lab install on a system ROS) must work with apt's numpy 1.26.

Ubuntu 24.04 (ROS 2 Jazzy and Kilted from apt) ships numpy 1.26.4; a requirement that forces numpy>=2 makes pip
replace it and breaks cv_bridge and friends. This reads the metadata of the installed distributions
(``importlib.metadata.requires``) of every package named in requirements.txt and of their dependencies, and fails
when any of them excludes numpy 1.26.4, names torch, or does not support Python 3.12 (Ubuntu 24.04's).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements.txt"
JAZZY_NUMPY = "1.26.4"  # python3-numpy of Ubuntu 24.04 (Jazzy, Kilted from apt)
JAZZY_PYTHON = "3.12.3"
FORBIDDEN = {"numpy", "torch", "torchvision"}  # apt provides numpy; torch is an explicit, optional step


def requirement_lines(path: Path) -> list[Requirement]:
    reqs = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("-"), f"{path.name}: pip options/includes are not checked here: {line!r}"
        reqs.append(Requirement(line))
    return reqs


def environments() -> list[dict[str, str]]:
    """Marker environments: this interpreter, and Ubuntu 24.04's Python 3.12."""
    here = default_environment()
    jazzy = dict(here, python_version="3.12", python_full_version=JAZZY_PYTHON, implementation_version=JAZZY_PYTHON)
    return [here, jazzy]


def applies(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate(dict(env, extra=extra)) for env in environments() for extra in (extras or {""}))


def numpy_problem(req: Requirement) -> str | None:
    """Why ``req`` (a numpy requirement) excludes apt's numpy 1.26.4, else None."""
    if canonicalize_name(req.name) != "numpy":
        return None
    if req.specifier.contains(JAZZY_NUMPY, prereleases=True):
        return None
    return f"requires numpy{req.specifier} (excludes numpy {JAZZY_NUMPY})"


def dependency_closure(roots: list[Requirement]) -> tuple[dict[str, list[str]], list[str]]:
    """Walk the installed metadata from ``roots``: ({distribution: [problems]}, [missing distributions])."""
    problems: dict[str, list[str]] = {}
    missing: list[str] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(r, "requirements.txt") for r in roots]
    while todo:
        req, parent = todo.pop()
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in seen or name == "numpy":
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            missing.append(f"{req.name} (needed by {parent})")
            continue
        found = problems.setdefault(f"{dist.metadata['Name']}=={dist.version}", [])
        if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
            found.append(f"installed {dist.version} does not match {req} from {parent}: check an installed copy")
        requires_python = dist.metadata.get("Requires-Python")
        if requires_python and not SpecifierSet(requires_python).contains(JAZZY_PYTHON, prereleases=True):
            found.append(f"Requires-Python {requires_python} excludes Python {JAZZY_PYTHON} (Ubuntu 24.04)")
        for text in dist.requires or []:
            dep = Requirement(text)
            if not applies(dep, set(req.extras)):
                continue
            if canonicalize_name(dep.name) in {"torch", "torchvision"}:
                found.append(f"depends on {dep} (a multi-GB torch build would be resolved)")
            problem = numpy_problem(dep)
            if problem:
                found.append(problem)
            todo.append((dep, f"{dist.metadata['Name']}"))
    return {k: v for k, v in problems.items() if v}, missing


def test_numpy_problem_detects_a_numpy2_requirement():
    # The check itself: any of these in a dependency's metadata must be flagged.
    for text in ("numpy>=2", "numpy>=2.0.0", "numpy~=2.1", "numpy>=1.26.5", "numpy==2.2.6", "numpy>=1.21,<1.26"):
        assert numpy_problem(Requirement(text)), text
    for text in ("numpy", "numpy>=1.9.0", "numpy>=1.23", "numpy<3", "numpy>=1.26,<2.5"):
        assert numpy_problem(Requirement(text)) is None, text


def test_requirements_name_no_numpy_or_torch():
    names = {canonicalize_name(r.name) for r in requirement_lines(REQUIREMENTS)}
    assert names, "requirements.txt lists nothing"
    assert not names & FORBIDDEN, f"requirements.txt must not name {sorted(names & FORBIDDEN)}"
    for req in requirement_lines(REQUIREMENTS):
        assert req.specifier, f"{req.name}: give a version (pin or range) so the numpy check means something"


def test_no_requirement_or_dependency_needs_numpy2():
    roots = requirement_lines(REQUIREMENTS)
    problems, missing = dependency_closure(roots)
    if missing:
        pytest.fail("not installed, so their metadata cannot be checked (pip install -r requirements.txt): "
                    + ", ".join(sorted(missing)))
    assert not problems, "requirements.txt does not work with apt's numpy " + JAZZY_NUMPY + ":\n" + "\n".join(
        f"  {dist}: {'; '.join(why)}" for dist, why in sorted(problems.items()))


def test_jsonschema_pin_covers_the_referencing_api():
    # core/manifests.py imports `referencing` (jsonschema >= 4.18); apt's python3-jsonschema (4.10) lacks it.
    reqs = {canonicalize_name(r.name): r for r in requirement_lines(REQUIREMENTS)}
    assert "jsonschema" in reqs and not reqs["jsonschema"].specifier.contains("4.17.3")
