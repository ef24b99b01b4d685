"""Sweeps: a grid of cells run in parallel workers, one tidy row per cell, resumable from a store.

- :mod:`.grid`: the grid (:func:`make_cells`) and the identity of a cell (:func:`cell_id`);
- :mod:`.store`: one atomic JSON record per cell, read back on resume;
- :mod:`.execute`: :func:`run_sweep` / :func:`run_cells` on loky or dask workers, costliest cells
  first (:func:`dispatch_order`);
- :mod:`.plan`: a measured cost model and the estimated time of a run (:func:`plan_sweep`).

Tables (:mod:`otlmc.tables`) and provenance (:mod:`otlmc.provenance`) are modules of their own;
their names are re-exported here for callers that import them from ``otlmc.sweep``.
"""
from ..provenance import otlmc_version
from ..rng import DEFAULT_STREAMS, cell_streams, stable_hash
from ..tables import atomic_write_bytes, atomic_write_text, column, read_csv, write_csv, write_parquet
from .execute import BACKENDS, ON_ERROR, CellFn, SweepResult, dispatch_order, run_cells, run_one, run_sweep
from .grid import cell_id, cell_identity, make_cells, make_cells_range, size_axis
from .plan import CostModel, SweepPlan, fit_cost_model, plan_sweep
from .store import (RecordRejected, read_finished, read_record, record_digest, record_identity, record_path,
                    scan_store, to_jsonable, verify_record, write_record)

__all__ = [
    "BACKENDS", "DEFAULT_STREAMS", "RecordRejected", "record_digest", "record_identity", "verify_record", "ON_ERROR", "CellFn", "CostModel", "SweepPlan", "SweepResult",
    "atomic_write_bytes", "atomic_write_text", "cell_id", "cell_identity", "cell_streams", "column", "dispatch_order",
    "fit_cost_model", "make_cells", "make_cells_range", "otlmc_version", "plan_sweep", "read_csv",
    "read_finished", "read_record", "record_path", "run_cells", "run_one", "run_sweep", "scan_store",
    "size_axis", "stable_hash", "to_jsonable", "write_csv", "write_parquet", "write_record",
]
