"""The README's library example runs and prints what its comments say."""
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_library_example_runs_as_written(capsys):
    text = README.read_text()
    code = text.split("## Library\n```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "slope -0.200 [-0.208, -0.191] vs theory -0.200: inside" in out


def test_readme_opens_with_the_two_commands_ci_runs():
    lines = README.read_text().splitlines()
    block = lines[lines.index("```bash") + 1: lines.index("```bash") + 3]
    assert block[0].startswith("python -m pip install -e . && python -m sims.width_scaling")
    test_cmd = block[1].split("#")[0].strip()
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_cmd in ci
