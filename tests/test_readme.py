"""The README's two set-up commands stay true: CI runs the test one verbatim."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_readme_opens_with_install_run_and_install_test():
    run_cmd, test_cmd = readme_commands()[:2]
    assert "pip install ." in run_cmd and "opentracker -f opentracker.conf.sample" in run_cmd
    assert "pytest" in test_cmd and ".[test]" in test_cmd


def test_ci_runs_the_readme_test_command_verbatim():
    test_cmd = readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci
