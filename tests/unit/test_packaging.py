"""Packaging: the licence, one version, and lock files that cover pyproject.toml with hashes.

A dependency added to pyproject.toml without `bash scripts/lock.sh` fails here (and in scripts/bootstrap.sh's
`pip check`), with the command to run.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
UPDATE = "update the lock files with: bash scripts/lock.sh"


def _locked(path: Path) -> dict[str, tuple[str, int]]:
    """{canonical name: (version, number of hashes)} of a `uv pip compile --generate-hashes` file."""
    text = path.read_text(encoding="utf-8")
    pins: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s;\\]+)", block)
        if match:
            pins[canonicalize_name(match[1])] = (match[2], block.count("--hash=sha256:"))
    return pins


def _assert_covered(requirements: list[str], lock: Path) -> None:
    pins = _locked(lock)
    for line in requirements:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} (pyproject.toml) is not in {lock.name}: {UPDATE}"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock.name} pins {requirement.name}=={version}, outside pyproject.toml's {requirement.specifier}: {UPDATE}"
        )


def test_the_licence_is_declared_as_spdx_and_shipped_in_full() -> None:
    assert PROJECT["license"] == "EUPL-1.2"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("EUROPEAN UNION PUBLIC LICENCE v. 1.2")
    # The whole text: fifteen articles and the appendix of compatible licences, not a summary.
    for number in range(1, 16):
        assert re.search(rf"^\s+{number}\. \w", text, re.MULTILINE), f"LICENSE lacks article {number}"
    assert "'Compatible Licences' according to Article 5 EUPL are:" in text
    assert len(text) > 13_000
    metadata = importlib.metadata.metadata("city-contact-hub")
    assert metadata["License-Expression"] == "EUPL-1.2"


def test_the_version_is_written_once_in_pyproject() -> None:
    version = PROJECT["version"]
    assert importlib.metadata.version("city-contact-hub") == version
    # Nowhere else: code reads it through importlib.metadata.
    literal = re.compile(rf"""["']{re.escape(version)}["']""")
    for folder in ("hub", "consumers", "contracts", "infra"):
        for path in (ROOT / folder).rglob("*.py"):
            assert not literal.search(path.read_text(encoding="utf-8")), f"{path}: the version belongs in pyproject"


def test_the_lock_files_pin_every_dependency_with_hashes() -> None:
    base, test = ROOT / "requirements" / "base.txt", ROOT / "requirements" / "test.txt"
    build = PYPROJECT["build-system"]["requires"]
    _assert_covered([*PROJECT["dependencies"], *build], base)
    _assert_covered([*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["test"], *build], test)
    base_pins, test_pins = _locked(base), _locked(test)
    for pins, lock in ((base_pins, base), (test_pins, test)):
        unhashed = sorted(name for name, (_, hashes) in pins.items() if hashes == 0)
        assert not unhashed, f"{lock.name}: pinned without a hash: {unhashed}"
    # The demo and the image run the versions the tests ran.
    differ = {name: (version, test_pins.get(name, ("missing",))[0]) for name, (version, _) in base_pins.items()}
    assert {name: v for name, v in differ.items() if v[0] != v[1]} == {}, f"base.txt and test.txt differ: {UPDATE}"


def test_building_the_package_prints_no_warning(tmp_path: Path) -> None:
    # What `pip install .` runs in the Dockerfile, on a copy of what it copies, with every warning shown.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    for folder in ("hub", "consumers", "contracts", "infra"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    out.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    build = subprocess.run(
        [
            sys.executable,
            "-W",
            "always",
            "-c",
            "import sys; from setuptools import build_meta; build_meta.build_wheel(sys.argv[1])",
            str(out),
        ],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    warnings = [line for line in (build.stdout + build.stderr).splitlines() if re.search(r"warn|deprecat", line, re.I)]
    assert warnings == []
    wheel = next(out.glob("*.whl"))
    assert wheel.name.startswith(f"city_contact_hub-{PROJECT['version']}-")
