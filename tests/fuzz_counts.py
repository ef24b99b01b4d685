"""Count the fuzz cases of ``tests/test_fuzz.py`` per class (``python -m tests.fuzz_counts [ROOT]``).

Runs the fuzz suite with ``OTLMC_FUZZ_COUNT`` set (record, do not assert) from ``ROOT`` (default:
this checkout; point it at an export of another commit to count "before") and prints a table of
cases per target and class. The examples are derandomized, so the same cases run every time.
"""
from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CLASSES = ("clear_error", "accepted_correct", "unclear_error", "crash", "silent_wrong")


def count(root: Path) -> dict:
    """Run every test of the fuzz suite in its own process from ``root``; a process killed by a
    signal (a segfault) counts as one ``crash`` case of that test."""
    here = Path(__file__).resolve().parent / "test_fuzz.py"
    dest = root / "tests" / "test_fuzz.py"
    if dest.resolve() != here:
        shutil.copyfile(here, dest)  # the same cases against another checkout
    fd, log = tempfile.mkstemp(suffix=".jsonl")
    os.close(fd)
    env = {**os.environ, "OTLMC_FUZZ_COUNT": log}
    ids = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider",
                          "tests/test_fuzz.py"], cwd=root, env=env, capture_output=True, text=True).stdout
    ids = [line for line in ids.splitlines() if line.startswith("tests/test_fuzz.py::")]
    killed = []
    for node in ids:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node], cwd=root,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if proc.returncode < 0:
            killed.append(node)
            with open(log, "a") as f:
                f.write(json.dumps({"target": node.split("::")[1], "class": "crash",
                                    "detail": f"process killed by signal {-proc.returncode}"}) + "\n")
    table: dict = collections.defaultdict(collections.Counter)
    examples: dict = collections.defaultdict(list)
    for line in Path(log).read_text().splitlines():
        rec = json.loads(line)
        table[rec["target"]][rec["class"]] += 1
        if rec["class"] not in ("clear_error", "accepted_correct"):
            examples[rec["target"]].append(f"{rec['class']}: {rec['detail']}")
    os.unlink(log)
    return {"table": table, "examples": examples, "killed": killed}


def render(res: dict) -> str:
    table = res["table"]
    lines = ["| target | " + " | ".join(CLASSES) + " |", "|---" * (len(CLASSES) + 1) + "|"]
    total = collections.Counter()
    for t in sorted(table):
        total.update(table[t])
        lines.append(f"| {t} | " + " | ".join(str(table[t][c]) for c in CLASSES) + " |")
    lines.append("| **total** | " + " | ".join(f"**{total[c]}**" for c in CLASSES) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    res = count(root)
    print(render(res))
    print(f"killed by a signal: {res['killed'] or 'none'}")
    for t, ex in sorted(res["examples"].items()):
        for e in sorted(set(ex))[:8]:
            print(f"  {t}: {e}")
