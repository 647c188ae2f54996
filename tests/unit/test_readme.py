"""The README's quick start is what CI runs: the test command must not drift."""

from tests.helpers import REPO


def test_readme_test_command_is_the_one_ci_runs():
    readme = (REPO / "README.md").read_text()
    block = readme.split("```sh", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2, "the README starts with exactly two commands"
    up_command, test_command = block
    assert up_command.endswith("invoke up")
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    ci_command = [line for line in ci_lines if "pytest" in line and not line.startswith("#")]
    assert ci_command == [test_command]
