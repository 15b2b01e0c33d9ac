"""Check that this environment holds exactly the packages of requirements.lock, at its versions.

Run by .ci/run after the README's set-up. A lock pin `torch==2.13.0` is met by the CPU build `2.13.0+cpu`
(PEP 440: a local label is ignored by `==` without one). The project itself and pip are not in the lock.
Exit 1 with the differences, one line each.
"""

import sys
from importlib.metadata import distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
NOT_LOCKED = {"arena", "pip"}


def locked() -> dict[str, Requirement]:
    """The lock's pins whose markers hold here, by canonical name."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate():
            pins[canonicalize_name(req.name)] = req
    return pins


def main() -> int:
    pins = locked()
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions()}
    problems = [f"installed but not in the lock: {name}=={version}"
                for name, version in sorted(installed.items()) if name not in pins and name not in NOT_LOCKED]
    for name, req in sorted(pins.items()):
        if name not in installed:
            problems.append(f"in the lock but not installed: {req}")
        elif not req.specifier.contains(installed[name], prereleases=True):
            problems.append(f"{name}: installed {installed[name]}, the lock says {req.specifier}")
    for problem in problems:
        print(problem)
    print(f"{len(pins)} locked packages" + (f", {len(problems)} differences" if problems else ", all installed as locked"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
