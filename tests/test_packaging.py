"""pyproject.toml: the package holds every module of vampjax, declares every library that
vampjax imports, and admits the pinned set of requirements.txt."""

import ast
import importlib.metadata
import os
import sys
import tomllib

import setuptools
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
  PYPROJECT = tomllib.load(f)
DECLARED = {canonicalize_name(Requirement(r).name): Requirement(r)
            for r in PYPROJECT["project"]["dependencies"]
            + sum(PYPROJECT["project"]["optional-dependencies"].values(), [])}


def source_files():
  for folder, _, files in os.walk(os.path.join(ROOT, "vampjax")):
    if "__pycache__" not in folder:
      yield from (os.path.join(folder, name) for name in files if name.endswith(".py"))


def test_every_folder_of_modules_is_a_package_that_setuptools_finds():
  found = setuptools.find_packages(ROOT, **PYPROJECT["tool"]["setuptools"]["packages"]["find"])
  folders = {os.path.relpath(os.path.dirname(path), ROOT).replace(os.sep, ".")
             for path in source_files()}
  assert set(found) == folders


def pinned() -> dict[str, str]:
  pins = {}
  with open(os.path.join(ROOT, "requirements.txt")) as f:
    for line in f:
      line = line.split("#")[0].strip()
      if line:
        requirement = Requirement(line)
        pins[canonicalize_name(requirement.name)] = next(iter(requirement.specifier)).version
  return pins


def test_pinned_versions_fall_in_the_declared_ranges():
  pins = pinned()
  for name, requirement in DECLARED.items():
    assert name in pins, f"{name} is declared in pyproject.toml but not pinned"
    assert requirement.specifier.contains(pins[name]), (name, pins[name], requirement)


def imported_top_level_modules() -> set[str]:
  names = set()
  for path in source_files():
    with open(path) as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        names |= {alias.name.split(".")[0] for alias in node.names}
      elif isinstance(node, ast.ImportFrom) and node.level == 0:
        names.add(node.module.split(".")[0])
  return names - set(sys.stdlib_module_names) - {"vampjax"}


def test_every_imported_library_is_declared():
  distributions = importlib.metadata.packages_distributions()
  for module in sorted(imported_top_level_modules()):
    providers = {canonicalize_name(d) for d in distributions.get(module, [])}
    assert providers & set(DECLARED), f"vampjax imports {module}; declare {providers or module}"
