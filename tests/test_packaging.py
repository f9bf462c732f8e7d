"""What `pip install .` ships: the two import packages, typed, with the licence."""

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_only_autodiff_and_nn_are_packaged():
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    found = [
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in ROOT.rglob("__init__.py")
        if not any(part.startswith(".") for part in init.relative_to(ROOT).parts)
    ]  # every package setuptools' find could see, as a dotted name
    packages = [p for p in found if any(fnmatch.fnmatchcase(p, pat) for pat in include)]
    assert "tests" in found and "benchmarks" in found  # there to be left out
    assert {p.split(".")[0] for p in packages} == {"autodiff", "nn"}
    assert "autodiff.viz" in packages and "nn.verify" in packages


def test_both_packages_are_marked_typed():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    for package in ("autodiff", "nn"):
        assert (ROOT / package / "py.typed").is_file()
        assert "py.typed" in data[package]


def test_licence_file_matches_the_metadata():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_distribution_name_is_not_the_import_name():
    # "autodiff" is another project's name on PyPI; the import names stay autodiff and nn.
    assert PYPROJECT["project"]["name"] == "autodiff-nn"
