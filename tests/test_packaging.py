"""The image installs the built wheel, not the source tree, so what the wheel leaves out is missing
in production: checked by building it, and by migrating and reading the demo trace from it alone.
The sdist must hold the same and nothing of the working tree besides (tests, caches, .venv).

Docker cannot run here; these checks cover what the Dockerfile relies on. With the test extra
installed (it brings setuptools) they build without an index, offline.
"""

from __future__ import annotations

import re
import shutil
import site as sitelib
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

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


def has_build_requirements() -> bool:
    """Whether this environment meets ``[build-system] requires`` itself (the test extra lists
    them), so a build needs no isolated environment fetched from an index."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for line in project["build-system"]["requires"]:
        wanted = Requirement(line)
        try:
            found = metadata.version(wanted.name)
        except metadata.PackageNotFoundError:
            return False
        if not wanted.specifier.contains(found, prereleases=True):
            return False
    return True


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = docker_build_context(tmp_path_factory.mktemp("context"))
    out = tmp_path_factory.mktemp("wheel")
    # offline with the test extra; an older environment builds as the image does, from the index
    isolation = ["--no-build-isolation"] if has_build_requirements() else []
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            *isolation,
            "-w",
            str(out),
            ".",
        ],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0:
        pytest.fail(f"building the wheel from the Docker build context failed:\n{built.stderr}")
    (path,) = out.glob("forecaster-*.whl")
    return path


def package_patterns() -> list[str]:
    """``[tool.setuptools.packages.find] include``: the packages the distribution installs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(project["tool"]["setuptools"]["packages"]["find"]["include"])


def packaged_tree_files() -> set[str]:
    """Every committed file of the installed packages that is not a test or a cache."""
    tops = sorted({pattern.rstrip("*") for pattern in package_patterns()})
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


def checkout_tree(into: Path) -> Path:
    """The working tree's files that git tracks or would (not ignored): a fresh checkout, without
    the caches, .venv and build leftovers a working tree gathers."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        if (ROOT / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, into / name)
    return into


def test_the_sdist_holds_the_packages_and_nothing_else_of_the_checkout(tmp_path: Path) -> None:
    if not has_build_requirements():
        pytest.skip(
            "needs the build requirements installed (the test extra): pip install -e '.[test]'"
        )
    tree = checkout_tree(tmp_path / "tree")
    out = tmp_path / "dist"
    built = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])",
            str(out),
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (sdist,) = out.glob("forecaster-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    missing = sorted(packaged_tree_files() - names)
    assert not missing, f"the sdist leaves out {missing}"
    packages = {pattern.rstrip("*") for pattern in package_patterns()}
    assert "LICENSE" in names, "the licence text must ship with the source"
    metadata_files = {
        "PKG-INFO",
        "README.md",
        "pyproject.toml",
        "setup.cfg",
        "MANIFEST.in",
        "LICENSE",
        "constraints.txt",  # the README installs with -c constraints.txt
    }
    assert "constraints.txt" in names, "pip install -c constraints.txt . needs it"
    stray = sorted(
        name
        for name in names
        if name.split("/")[0] not in packages | metadata_files | {"forecaster.egg-info"}
        or "__pycache__" in name
        or name.endswith((".pyc", ".db"))
    )
    assert not stray, f"the sdist carries {stray}: prune them in MANIFEST.in"


def test_the_forecaster_variables_that_deployments_set_are_settings() -> None:
    """A misspelt FORECASTER_ name in the image, the manifests or the docs is silently ignored
    (the settings ignore unknown names): each must be a setting, or one the tests read."""
    from forecaster.settings import Settings

    known = {f"FORECASTER_{name.upper()}" for name in Settings.model_fields}
    name = re.compile(r"FORECASTER_[A-Z0-9_]*[A-Z0-9]")
    for path in [*(ROOT / "tests").rglob("*.py"), ROOT / ".ci" / "run"]:
        known |= set(name.findall(path.read_text()))
    documents = [
        ROOT / "Dockerfile",
        ROOT / "README.md",
        *(ROOT / "deploy").iterdir(),
        *(ROOT / "docs").glob("*.md"),
    ]
    unknown = {
        str(path.relative_to(ROOT)): sorted(set(name.findall(path.read_text())) - known)
        for path in documents
    }
    assert not {path: names for path, names in unknown.items() if names}


def test_the_healthcheck_asks_the_port_the_server_listens_on() -> None:
    """``serve`` listens on FORECASTER_PORT: a health check on a fixed port marks a container
    serving elsewhere unhealthy."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    (healthcheck,) = re.findall(r"^HEALTHCHECK .+$", dockerfile, re.M)
    assert "/healthz" in healthcheck
    assert "FORECASTER_PORT" in healthcheck
    assert not re.search(r"127\.0\.0\.1:\d", healthcheck), healthcheck


def test_the_dev_script_refuses_a_python_too_old_and_replaces_a_venv_made_with_one(
    tmp_path: Path,
) -> None:
    """QA: a first ``./scripts/dev`` run with Python 3.10 left a 3.10 .venv behind, which every
    later run kept using, PYTHON= or not; the install failed each time."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "dev", tmp_path / "scripts" / "dev")
    old = tmp_path / "python3.10"
    old.write_text('#!/bin/sh\n[ "$1" = --version ] && echo Python 3.10.13 && exit 0\nexit 1\n')
    old.chmod(0o755)
    script = str(tmp_path / "scripts" / "dev")
    refused = subprocess.run(
        [script, "test"],
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(old)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert "needs Python 3.11 or newer" in refused.stderr and "3.10.13" in refused.stderr
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(old, tmp_path / ".venv" / "bin" / "python")
    replaced = subprocess.run(  # stopped by the missing pyproject.toml right after
        [script, "test"],
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert "replacing .venv: it was made with Python 3.10.13" in replaced.stderr
    made = subprocess.run(
        [tmp_path / ".venv" / "bin" / "python", "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert made.stdout.strip() == str(sys.version_info[:2])


def test_every_docstring_is_utf8_so_newer_pythons_compile_it() -> None:
    """Python 3.13 encodes docstrings strictly when it compiles a module: one escape of a lone
    surrogate (``"\\ud800"`` written unescaped) in forecaster.errors made every command fail at
    import there, while 3.11 (CI's) compiled it (found by a packaging QA pass)."""
    import ast

    unencodable = []
    for package in ("forecaster", "api", "models", "migrations"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(
                    node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
                ):
                    doc = ast.get_docstring(node, clean=False)
                    try:
                        (doc or "").encode("utf-8")
                    except UnicodeEncodeError:
                        unencodable.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 1)}")
    assert unencodable == []
