"""Bad input on the command line: one line on stderr that names the problem and the fix,
exit status 2, and nothing created (each case as a user types it)."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CONFIG = "--config=configs/mnist_vamp.py"
CASES = {  # name: (arguments, with {tmp} for the test's folder; the start of the line)
    "missing config file": (["--config=configs/mnist_quickstrat.py", "--workdir={tmp}/run"],
                            "error: config file configs/mnist_quickstrat.py does not exist; "
                            "did you mean configs/mnist_quickstart.py?"),
    "config with a syntax error": (["--config={tmp}/broken.py", "--workdir={tmp}/run"],
                                   "error: config file {tmp}/broken.py cannot be loaded: "
                                   "SyntaxError: invalid syntax (broken.py, line 1); fix it."),
    "get_config raising": (["--config={tmp}/raises.py", "--workdir={tmp}/run"],
                           "error: config file {tmp}/raises.py cannot be loaded: "
                           "KeyError: 'data_set'; fix it."),
    "wrong mode": ([CONFIG, "--workdir={tmp}/run", "--mode=sampel"],
                   "error: flag --mode=sampel: value should be one of "
                   "<train|sample|eval|figures>"),
    "no workdir flag": ([CONFIG], "error: flag --workdir=None: Flag --workdir must have a value"),
    "a stray argument": ([CONFIG, "--workdir={tmp}/run", "eval"],
                         "error: unexpected argument(s) eval; every option is a flag such as "
                         "--mode=eval"),
    "sample on a missing workdir": ([CONFIG, "--workdir={tmp}/run", "--mode=sample"],
                                    "error: {tmp}/run does not exist; train a run there first "
                                    "(--mode=train), or check --workdir."),
    "eval on a missing workdir": ([CONFIG, "--workdir={tmp}/run", "--mode=eval"],
                                  "error: {tmp}/run does not exist;"),
    "figures on a missing workdir": ([CONFIG, "--workdir={tmp}/run", "--mode=figures"],
                                     "error: {tmp}/run does not exist;"),
    "missing data folder": ([CONFIG, "--workdir={tmp}/run", "--config.data.name=image_folder",
                             "--config.data.path={tmp}/no_such_folder"],
                            "error: data.path={tmp}/no_such_folder is not an existing folder; "
                            "check the path."),
    "data folder without images": ([CONFIG, "--workdir={tmp}/run",
                                    "--config.data.name=image_folder",
                                    "--config.data.path={tmp}/empty"],
                                   "error: data.path={tmp}/empty holds no JPEG/PNG/PGM images; "
                                   "point data.path at the folder that contains them."),
    "unreadable images": ([CONFIG, "--workdir={tmp}/run", "--config.data.name=image_folder",
                           "--config.data.path={tmp}/junk"],
                          "error: 1 of 1 images in {tmp}/junk cannot be used (e.g. a.png: "
                          "unreadable"),
}


def tree(root):
  return sorted(os.path.join(folder, name) for folder, dirs, names in os.walk(root)
                for name in dirs + names)


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_status_2_and_creates_nothing(tmp_path, case):
  (tmp_path / "broken.py").write_text("def get_config(:\n")
  (tmp_path / "raises.py").write_text("def get_config():\n  return {}['data_set']\n")
  (tmp_path / "empty").mkdir()
  (tmp_path / "junk").mkdir()
  (tmp_path / "junk" / "a.png").write_text("not a picture")
  before = tree(tmp_path)
  args, start = CASES[case]
  result = subprocess.run([sys.executable, "main.py", *(a.format(tmp=tmp_path) for a in args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 2, result.stderr
  assert len(result.stderr.splitlines()) == 1, result.stderr
  assert result.stderr.startswith(start.format(tmp=tmp_path)), result.stderr
  assert tree(tmp_path) == before
