"""How a sim is declared: typed Config fields with their ranges and help, and the :class:`Sim` record.

A sim module holds a frozen dataclass ``Config`` whose fields are made with :func:`param`, a
cell function, its claims and its plot, and one :class:`Sim` that names them::

    @dataclass(frozen=True)
    class Config:
        d: int = param(5, "input dimension m_0", min=1)
        widths: tuple = param((16, 32, 64), "hidden widths", min=1, quick=(16, 32), axis="width")

    SIM = Sim("width_scaling", __doc__, Config, cell, claims=claims, plot=plot)
    if __name__ == "__main__":
        raise SystemExit(run(SIM))

Everything else — flags, validation, the sweep, tables, provenance, claims, drawing — is done
by :mod:`otlmc.runner` from this declaration. A field's metadata says:

``help``
    one help text, shown by ``--help`` with the default printed once;
``min`` / ``max`` / ``choices``
    the allowed values (checked through :mod:`otlmc._validation` for the whole tuple);
``quick``
    its value under ``--quick``;
``axis``
    the name of the grid axis this tuple field sweeps (``widths`` -> ``width``); axes are not
    part of a cell's fixed context;
``identity``
    False for analysis-only settings (fit ranges, bootstrap sizes): they do not enter a cell's
    identity or seed, so changing them reuses finished cells. ``"if-changed"`` for a setting added
    after runs were committed: it enters the identity only when it differs from its default, so
    adding it re-seeds nothing that already exists.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._validation import check_choice, check_int, check_real
from .rng import DEFAULT_STREAMS


def param(default, help: str, *, min=None, max=None, choices=None, quick=None, axis: str | None = None,
          identity: bool | str = True, strict_min: bool = False):
    """A Config field with its help text, allowed values and ``--quick`` value (see module docstring)."""
    meta = dict(help=help, min=min, max=max, choices=tuple(choices) if choices is not None else None,
                quick=quick, axis=axis, identity=identity if axis is None else False, strict_min=strict_min)
    if meta["identity"] not in (True, False, "if-changed"):
        raise ValueError(f"identity={identity!r}; allowed: True, False, 'if-changed'.")
    return field(default=default, metadata=meta)


def fields(cls) -> tuple[dataclasses.Field, ...]:
    """The declared fields of a Config class (every field must come from :func:`param`)."""
    out = dataclasses.fields(cls)
    for f in out:
        if "help" not in f.metadata:
            raise TypeError(f"{cls.__module__}.{cls.__name__}.{f.name} is not declared with param().")
    return out


def element_type(f: dataclasses.Field) -> type:
    """int, float, str or bool: the type of a scalar field or of a tuple field's items."""
    v = f.default
    if isinstance(v, tuple):
        types = {type(x) for x in v}
        if types <= {int}:
            return int
        if types <= {int, float}:
            return float
        return str
    return type(v)


def _check_value(name: str, f: dataclasses.Field, v):
    m, kind = f.metadata, element_type(f)
    if kind is bool:
        if not isinstance(v, bool):
            raise TypeError(f"{name} must be true or false, got {v!r}.")
        return v
    if kind is int:
        v = check_int(name, v, min_value=m["min"])
        if m["max"] is not None and v > m["max"]:
            raise ValueError(f"{name} == {v}, must be <= {m['max']}.")
    elif kind is float:
        v = check_real(name, v, min_value=m["min"], max_value=m["max"], strict_min=m["strict_min"])
    if m["choices"] is not None:
        check_choice(name, v, m["choices"])
    return v


def validate(cfg) -> None:
    """Check every field of ``cfg`` against its declaration; raises ValueError/TypeError naming it."""
    for f in fields(type(cfg)):
        name, v = "--" + f.name.replace("_", "-"), getattr(cfg, f.name)
        if isinstance(f.default, tuple):
            if not isinstance(v, tuple) or not v:
                raise ValueError(f"{name} needs at least one value, got {v!r}.")
            for x in v:
                _check_value(name, f, x)
            if f.metadata["axis"] and len(set(v)) != len(v):
                dup = sorted({x for x in v if v.count(x) > 1})
                raise ValueError(f"{name} lists {dup} more than once; each value must appear once.")
        else:
            _check_value(name, f, v)


def grid_of(cfg) -> dict[str, list]:
    """``{axis: values}`` for every field declared with ``axis=``, in declaration order."""
    return {f.metadata["axis"]: list(getattr(cfg, f.name)) for f in fields(type(cfg)) if f.metadata["axis"]}


def context_of(cfg) -> dict[str, Any]:
    """The fixed settings that enter every cell's identity and seed (not axes, replicates or analysis)."""
    out = {}
    for f in fields(type(cfg)):
        ident, v = f.metadata["identity"], getattr(cfg, f.name)
        if f.name == "replicates" or ident is False or (ident == "if-changed" and v == f.default):
            continue
        out[f.name] = v
    return out


def quick_config(cls):
    """The Config of ``--quick``: each field's ``quick`` value where it declares one."""
    return cls(**{f.name: f.metadata["quick"] for f in fields(cls) if f.metadata["quick"] is not None})


@dataclass(frozen=True)
class Sim:
    """One runnable experiment, declared once.

    ``cell(cfg, params, streams) -> row`` computes one grid point and replicate; ``claims(cfg)``
    lists the :class:`otlmc.claims.Claim` objects the run is judged by; ``plot(rows, cfg, verdicts)``
    draws the figure from the table and the verdicts (it computes nothing new); ``check(cfg)``
    raises ValueError for combinations of fields that single-field ranges cannot express;
    ``tables(rows, cfg)`` returns extra derived tables ``{suffix: rows}`` written beside the main one
    (a ``str`` value is a text table written as ``<sim>_<suffix>``, e.g. ``"comparison.md"``).
    """

    name: str
    doc: str
    config: type
    cell: Callable
    claims: Callable | None = None
    plot: Callable | None = None
    check: Callable | None = None
    tables: Callable | None = None
    streams: Sequence[str] = DEFAULT_STREAMS
    default_out: str = "runs"

    @property
    def description(self) -> str:
        return self.doc.strip().split("\n\n")[0]


def grid_values(rows: Sequence[Mapping], key: str) -> list:
    """Distinct values of ``key`` in table order."""
    seen: list = []
    for r in rows:
        if r[key] not in seen:
            seen.append(r[key])
    return seen
