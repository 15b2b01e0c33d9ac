"""What the README's set-up downloads from PyPI, per platform: packages and megabytes.

    .venv/bin/python benchmarks/install_size.py [--cpu-wheel torch-2.13.0+cpu-....whl]

For each platform: the lines of `requirements.lock` whose markers hold there, each with the file pip would
take for CPython 3.11 on that platform (the first wheel in that platform's tag order, else the sdist), and
its size from PyPI's index. On Linux, PyPI's torch is the CUDA build, which needs more packages than the
lock holds: those are what `pip install --dry-run` adds for `torch==<locked>` on that platform. The CPU-only
build of torch comes from PyTorch's index (https://download.pytorch.org/whl/cpu); `--cpu-wheel` takes such
a wheel to print the CPU-only Linux figure. Needs a connection to PyPI; this machine's pip settings are
not used.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

from packaging import tags
from packaging.requirements import Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
PY = (3, 11)


def _linux(machine: str) -> list[str]:
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    names = []
    for minor in range(28, 4, -1):
        names.append(f"manylinux_2_{minor}_{machine}")
        if minor in legacy:
            names.append(f"{legacy[minor]}_{machine}")
    return names + [f"linux_{machine}"]


# name: (platform tags best first, marker environment)
PLATFORMS = {
    "Linux x86_64": (_linux("x86_64"), dict(sys_platform="linux", platform_system="Linux", platform_machine="x86_64")),
    "Linux aarch64": (_linux("aarch64"), dict(sys_platform="linux", platform_system="Linux", platform_machine="aarch64")),
    "macOS arm64": (list(tags.mac_platforms((14, 0), "arm64")),
                    dict(sys_platform="darwin", platform_system="Darwin", platform_machine="arm64")),
    "Windows x86_64": (["win_amd64"], dict(sys_platform="win32", platform_system="Windows", platform_machine="AMD64")),
}
BASE_ENV = dict(python_version="3.11", python_full_version="3.11.7", implementation_name="cpython",
                platform_python_implementation="CPython", os_name="posix", extra="")


@cache
def files_of(name: str) -> tuple[dict, ...]:
    """Every file PyPI has for a project (filename, url, size), from its JSON simple index."""
    request = urllib.request.Request(f"https://pypi.org/simple/{canonicalize_name(name)}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return tuple(json.load(response)["files"])


def pick(name: str, version: str, platform_tags: list[str]) -> tuple[str, int]:
    """(filename, size) of the file pip would install for name==version on these platform tags."""
    order = list(tags.cpython_tags(PY, abis=["cp311"], platforms=platform_tags))
    order += list(tags.compatible_tags(PY, "cp311", platform_tags))
    rank = {tag: i for i, tag in enumerate(order)}
    best, sdist = None, None
    for f in files_of(name):
        filename = f["filename"]
        if filename.endswith(".whl"):
            try:
                _, wheel_version, _, wheel_tags = parse_wheel_filename(filename)
            except InvalidWheelFilename:  # old uploads with names pip would skip too
                continue
            if str(wheel_version) != version:
                continue
            score = min((rank[t] for t in wheel_tags if t in rank), default=None)
            if score is not None and (best is None or score < best[0]):
                best = (score, filename, f["size"])
        elif filename.endswith((".tar.gz", ".zip")) and f"-{version}." in filename:
            sdist = (filename, f["size"])
    if best:
        return best[1], best[2]
    if sdist:
        return sdist
    raise SystemExit(f"no file of {name}=={version} for {platform_tags[0]}")


def locked(env: dict) -> list[tuple[str, str]]:
    """(name, version) of the lock's lines whose markers hold in this environment."""
    pins = []
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(env):
                pins.append((canonicalize_name(req.name), str(next(iter(req.specifier)).version)))
    return pins


def torch_needs(torch_version: str, platform_tags: list[str]) -> list[tuple[str, str]]:
    """(name, version) of everything PyPI's torch wheel pulls in on a Linux platform (pip's own resolution)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed", "--quiet",
               "--disable-pip-version-check", "--only-binary=:all:", "--python-version", "3.11",
               "--implementation", "cp", "--abi", "cp311", "--index-url", "https://pypi.org/simple",
               "--target", str(Path(tmp) / "target"), "--report", str(report), f"torch=={torch_version}"]
        for tag in platform_tags:
            cmd += ["--platform", tag]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        subprocess.run(cmd, check=True, env=dict(env, PIP_CONFIG_FILE=os.devnull))
        items = json.loads(report.read_text())["install"]
    return [(canonicalize_name(i["metadata"]["name"]), i["metadata"]["version"]) for i in items]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-wheel", type=Path, help="a torch +cpu wheel, for the CPU-only Linux x86_64 figure")
    args = parser.parse_args()

    print(f"{'platform (from PyPI)':<24} {'packages':>8} {'download':>10} {'torch':>8} {'CUDA libraries':>17}")
    for name, (platform_tags, marker_env) in PLATFORMS.items():
        env = dict(BASE_ENV, **marker_env)
        pins = locked(env)
        versions = dict(pins)
        extra = []
        if marker_env["platform_system"] == "Linux":
            extra = [(n, v) for n, v in torch_needs(versions["torch"], platform_tags) if n not in versions]
        with ThreadPoolExecutor(8) as pool:
            sizes = dict(zip([n for n, _ in pins + extra],
                             pool.map(lambda p: pick(p[0], p[1], platform_tags)[1], pins + extra)))
        total = sum(sizes.values()) / 1e6
        cuda = sum(sizes[n] for n, _ in extra) / 1e6
        cuda_cell = f"{cuda:,.0f} MB ({len(extra)})" if extra else "none"
        print(f"{name:<24} {len(sizes):>8} {total:>7,.0f} MB {sizes['torch'] / 1e6:>5,.0f} MB {cuda_cell:>17}")
        if name == "Linux x86_64" and args.cpu_wheel:
            wheel = args.cpu_wheel.stat().st_size
            rest = sum(sizes[n] for n, _ in pins if n != "torch")
            print(f"{'Linux x86_64, CPU torch':<24} {len(pins):>8} {(rest + wheel) / 1e6:>7,.0f} MB "
                  f"{wheel / 1e6:>5,.0f} MB {'none':>17}   (torch: {args.cpu_wheel.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
