"""The library reads as its layers: no hidden imports, a numpy-only theory, every public name kept."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import otlmc

ROOT = Path(otlmc.__file__).resolve().parent
#: optional packages that may be imported where they are needed (matplotlib: plotting only)
LAZY_OK = {"cupy", "torch", "dask", "pyarrow", "lapx", "matplotlib"}


def _modules():
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_import_inside_a_function_except_optional_packages():
    bad = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = ["." * node.level + (node.module or "")]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] not in LAZY_OK:
                        bad.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {fn.name} imports {name}")
    assert not bad, "\n".join(bad)


def test_theory_imports_no_network_solver_or_measurement_code():
    allowed = {"numpy", "fractions", "dataclasses", "numbers", "__future__", "_validation", "sampling"}
    for path in sorted((ROOT / "theory").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                top = (node.module or "").split(".")[0]
                assert node.level in (0, 1, 2) and (node.level == 1 or top in allowed), (path.name, node.module)
            elif isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] in allowed for a in node.names), path.name


def test_every_exported_name_resolves_and_linear_assignment_is_exported():
    for name in otlmc.__all__:
        assert getattr(otlmc, name) is not None
    assert otlmc.linear_assignment is importlib.import_module("otlmc.transport.assignment").linear_assignment


def test_packages_reexport_their_modules_public_names():
    for pkg in ("otlmc.transport", "otlmc.theory", "otlmc.meanfield", "otlmc.sweep"):
        mod = importlib.import_module(pkg)
        for name in mod.__all__:
            assert hasattr(mod, name), (pkg, name)
    # what `from otlmc.sweep import X` offered before the split
    sweep = importlib.import_module("otlmc.sweep")
    for name in ("BACKENDS", "atomic_write_text", "cell_id", "cell_identity", "column", "fit_cost_model",
                 "make_cells", "make_cells_range", "otlmc_version", "plan_sweep", "read_csv", "run_cells",
                 "run_one", "run_sweep", "scan_store", "size_axis", "write_csv", "write_parquet"):
        assert hasattr(sweep, name), name


def test_mean_field_names_do_not_collide_with_mlp_names():
    mf = importlib.import_module("otlmc.meanfield")
    mlp_names = set()
    for m in ("networks", "matching", "sampling", "train", "barrier"):
        mlp_names |= {n for n in vars(importlib.import_module(f"otlmc.{m}")) if not n.startswith("_")}
    clash = {n for n in mf.__all__ if n in mlp_names and callable(getattr(mf, n))}
    assert not clash, clash
