"""The README's library example runs and prints what its comments say."""
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_library_example_runs_as_written(capsys):
    text = README.read_text()
    code = text.split("## Library\n```python\n", 1)[1].split("```", 1)[0]
    ns = {}
    exec(compile(code, "README.md", "exec"), ns)
    out = capsys.readouterr().out
    fit = ns["fit"]
    # W_2 of two Gaussian samples in R^5 falls like n^(-1/5): the interval must hold -1/5 and be
    # narrow enough that a wrong law (-1/4, -1/6) would fall outside it
    assert fit.contains(-0.2) and not fit.contains(-0.25) and not fit.contains(-1 / 6), fit.describe(-0.2)
    assert f"slope {fit.slope:+.3f}" in out


def test_readme_opens_with_the_two_commands_ci_runs():
    lines = README.read_text().splitlines()
    block = lines[lines.index("```bash") + 1: lines.index("```bash") + 3]
    assert block[0].startswith("python -m pip install -e . && python -m sims.width_scaling")
    test_cmd = block[1].split("#")[0].strip()
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_cmd in ci
