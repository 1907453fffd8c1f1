"""The image installs the built wheel, not the source tree, so what the wheel leaves out is missing
in production: checked by building it, and by migrating and reading the demo trace from it alone.

Docker cannot run here; these checks cover what the Dockerfile relies on.
"""

from __future__ import annotations

import re
import shutil
import site as sitelib
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The unpacked wheel, then the dependencies, without the site .pth files: the editable install of
# the working tree registers its finder through one and would answer for missing files.
WHEEL_FIRST = "import sys; sys.path[:0] = [{site!r}]; sys.path += {dependencies!r}"


def docker_build_context(into: Path) -> Path:
    """What the Dockerfile's build stage copies, from the working tree: the wheel is built from
    this alone, so a file it needs but does not copy fails here as it would in the image."""
    build_stage = (ROOT / "Dockerfile").read_text().split("\nFROM ")[1]
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db", "*.db-*")
    for line in re.findall(r"^COPY (.+)$", build_stage, re.M):
        *sources, destination = line.split()
        for source in sources:
            target = into / destination.removeprefix("./")
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=ignored)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / source, target / source)
    return into


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = docker_build_context(tmp_path_factory.mktemp("context"))
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), "."],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0:
        pytest.fail(f"building the wheel from the Docker build context failed:\n{built.stderr}")
    (path,) = out.glob("forecaster-*.whl")
    return path


def packaged_tree_files() -> set[str]:
    """Every committed file of the installed packages that is not a test or a cache."""
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    tops = sorted({pattern.rstrip("*") for pattern in include})
    listed = subprocess.run(
        ["git", "ls-files", "--", *tops], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return set(listed)


def test_the_wheel_holds_every_committed_file_of_the_packages(wheel: Path) -> None:
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    expected = packaged_tree_files()
    assert expected, "git ls-files found nothing to package"
    missing = sorted(expected - in_wheel)
    assert not missing, f"the wheel leaves out {missing}: add them to package-data"


def test_the_installed_wheel_alone_migrates_and_reads_the_demo_trace(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import forecaster, migrations\n"
        "from forecaster.demo import demo_trace\n"
        "from forecaster.storage.db import Database\n"
        f"assert forecaster.__file__.startswith({str(site)!r}), forecaster.__file__\n"
        f"db = Database('sqlite:///{tmp_path / 'packaged.db'}')\n"
        "db.migrate()\n"
        "assert db.at_head()\n"
        "print(len(demo_trace()))\n"
    )
    prelude = WHEEL_FIRST.format(site=str(site), dependencies=sitelib.getsitepackages())
    ran = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"{prelude}\n{script}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert int(ran.stdout.strip()) > 10_000


def test_python_dash_m_forecaster_runs_the_command_line() -> None:
    """``python -m forecaster`` is the command line of the package it imports: the way to run a
    checkout whose ``forecaster`` script belongs to another install (it had no ``__main__``)."""
    ran = subprocess.run(
        [sys.executable, "-m", "forecaster", "forecast", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert "--horizon" in ran.stdout
