# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
A benchmark grid file (YAML or JSON) and the cells it defines.

A grid names **methods** (a bundle, a framework and a consistency loss of that bundle, optionally its plain
baseline) and **groups** (a number of labeled patients, seeds and the methods run with them); every method × seed of a
group is one **cell**, named ``<method>_<labeled>l_s<seed>`` (``mt_metassl_7l_s1337``). Every cell trains with its
bundle's own configs (``configs``, default ``train.json`` + ``train_cpu.json``: the CPU benchmark setting) and is
scored by its bundle's ``evaluating`` workflow. ``benchmarks/acdc.yaml`` is the committed grid::

    name: acdc
    labeled_key: labeled_patients          # the bundle parameter that sets the number of labeled patients/cases
    configs: [train.json, train_cpu.json]  # a name is a file of the cell's bundle configs/ folder, else a path
    overrides: {}                          # bundle parameters set for every cell (``--key value``)
    trace_interval: 25                     # iterations between two records of the loss terms / MetaSSL statistics
    methods:
      mt: {bundle: metassl_acdc, framework: mean_teacher, ssl_loss: softmax_mse}
      mt_metassl: {bundle: metassl_acdc, framework: mean_teacher, ssl_loss: metassl, baseline: mt}
    groups:
      - {labeled: 7, seeds: [1337, 1338, 1339], methods: [mt, mt_metassl]}

Cells run group by group, seed-major within a group (every method of the first seed, then the next seed), so a grid
stopped part-way holds paired comparisons. An optional ``published`` section (``source``, ``setting``, ``rows`` of
``{method, labeled, name, dice[, hd95]}``) places the literature's results next to the methods in the report, with the
setting they were measured at. A method may add ``overrides`` (its training and evaluation), ``evaluate_overrides``
(evaluation only, e.g. CCT's ``network_def``) and ``timed_like`` (``NAME`` or ``{method: NAME, factor: F}``: until one of
its cells is recorded, ``benchmark run --hours`` estimates its cells from that method's records, times F). Relative paths in ``configs`` are resolved against the grid file's folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["Method", "Cell", "Grid", "load_grid", "GridError"]

_REPO_BUNDLES = Path(__file__).resolve().parents[2] / "bundles"
_GRID_KEYS = {"name", "description", "labeled_key", "configs", "evaluate_configs", "overrides", "trace_interval",
              "bundles_dir", "methods", "groups", "published"}
_METHOD_KEYS = {"bundle", "framework", "ssl_loss", "baseline", "overrides", "evaluate_overrides", "description",
                "timed_like"}
_GROUP_KEYS = {"name", "labeled", "seeds", "methods"}
_PUBLISHED_KEYS = {"source", "setting", "rows"}
_PUBLISHED_ROW_KEYS = {"method", "labeled", "name", "dice", "hd95"}


class GridError(ValueError):
    """A grid file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Method:
    """One row of the benchmark: a bundle, its framework and consistency loss (names in the bundle's
    ``frameworks`` / ``ssl_losses``), and the plain method it is compared with (``baseline``)."""

    name: str
    bundle: str
    framework: str
    ssl_loss: str
    baseline: str | None = None
    overrides: dict = field(default_factory=dict)
    evaluate_overrides: dict = field(default_factory=dict)
    description: str = ""
    #: until a cell of this method is recorded, ``benchmark run --hours`` estimates its duration from the records of
    #: this other method, times ``timed_like_factor`` (grid: ``timed_like: NAME`` or ``{method: NAME, factor: F}``)
    timed_like: Method | None = None
    timed_like_factor: float = 1.0


@dataclass(frozen=True)
class Cell:
    """One training run of the grid: a method with a number of labeled patients and a seed."""

    method: Method
    labeled: int
    seed: int
    group: str

    @property
    def name(self) -> str:
        return f"{self.method.name}_{self.labeled}l_s{self.seed}"


@dataclass(frozen=True)
class Grid:
    """A loaded grid file (see the module docstring)."""

    path: Path
    name: str
    labeled_key: str
    configs: tuple[str, ...]
    evaluate_configs: tuple[str, ...]
    overrides: dict
    trace_interval: int
    bundles_dir: Path
    methods: dict[str, Method]
    cells: tuple[Cell, ...]
    description: str = ""
    published: dict | None = None

    def bundle_root(self, method: Method) -> Path:
        return self.bundles_dir / method.bundle

    def config_files(self, method: Method, evaluate: bool = False) -> list[str]:
        """The config files of a cell's training (``evaluate``: of its evaluation), merged in this order."""
        names = [*self.configs, *(self.evaluate_configs if evaluate else ())]
        folder = self.bundle_root(method) / "configs"
        return [str(folder / n) if os.sep not in n and "/" not in n else str(self._resolve(n)) for n in names]

    def _resolve(self, name: str) -> Path:
        path = Path(name)
        return path if path.is_absolute() else (self.path.parent / path).resolve()

    def select(self, names: str | list[str] | tuple[str, ...] | None) -> list[Cell]:
        """The cells named in ``names`` (comma-separated or a list; a method name selects all its cells), all when
        None. Raises GridError for a name that is neither a cell nor a method."""
        if not names:
            return list(self.cells)
        wanted = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if str(n).strip()]
        unknown = [n for n in wanted if n not in self.methods and n not in {c.name for c in self.cells}]
        if unknown:
            raise GridError(f"{self.path}: no cell or method named {unknown}; cells are e.g. "
                            f"{[c.name for c in self.cells[:3]]}, methods {sorted(self.methods)}")
        return [c for c in self.cells if c.name in wanted or c.method.name in wanted]


def _read(path: Path) -> dict:
    if not path.is_file():
        raise GridError(f"grid file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # the parser's own message says where
        raise GridError(f"{path} is not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'}: {e}") from e
    if not isinstance(data, dict):
        raise GridError(f"{path}: the grid must be a mapping with 'methods' and 'groups', got {type(data).__name__}")
    return data


def _unknown(where: str, given: dict, allowed: set[str]) -> None:
    extra = sorted(set(given) - allowed)
    if extra:
        raise GridError(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}")


def _bundle_names(bundle_dir: Path, key: str) -> set[str]:
    with open(bundle_dir / "configs" / "train.json", encoding="utf-8") as f:
        return set(json.load(f).get(key, {}))


def load_grid(path: str | os.PathLike) -> Grid:
    """
    Read and check a grid file.

    Raises:
        GridError: the file is missing or unparsable; an unknown key; a method without bundle/framework/ssl_loss, or
            naming a bundle, framework or consistency loss its bundle does not have; a baseline or group method that
            is not a method; a group without labeled count or seeds; two cells with the same name.
    """
    path = Path(path).resolve()
    data = _read(path)
    _unknown(str(path), data, _GRID_KEYS)
    for key in ("methods", "groups"):
        if not data.get(key):
            raise GridError(f"{path}: '{key}' is missing or empty")
    bundles_dir = Path(data["bundles_dir"]) if data.get("bundles_dir") else _REPO_BUNDLES
    if not bundles_dir.is_absolute():
        bundles_dir = (path.parent / bundles_dir).resolve()

    methods: dict[str, Method] = {}
    for name, spec in data["methods"].items():
        where = f"{path}: method {name!r}"
        if not isinstance(spec, dict):
            raise GridError(f"{where} must be a mapping (bundle, framework, ssl_loss)")
        _unknown(where, spec, _METHOD_KEYS)
        missing = [k for k in ("bundle", "framework", "ssl_loss") if not spec.get(k)]
        if missing:
            raise GridError(f"{where} has no {missing}")
        bundle_dir = bundles_dir / spec["bundle"]
        if not (bundle_dir / "configs" / "train.json").is_file():
            raise GridError(f"{where}: bundle {spec['bundle']!r} not found ({bundle_dir}/configs/train.json)")
        for key, value in (("frameworks", spec["framework"]), ("ssl_losses", spec["ssl_loss"])):
            names = _bundle_names(bundle_dir, key)
            if value not in names:
                raise GridError(f"{where}: {spec['bundle']} has no {key}#{value}; it has {sorted(names)}")
        for key in ("overrides", "evaluate_overrides"):
            if not isinstance(spec.get(key, {}), dict):
                raise GridError(f"{where}: '{key}' must be a mapping of bundle parameters")
        methods[name] = Method(name=name, bundle=spec["bundle"], framework=spec["framework"],
                               ssl_loss=spec["ssl_loss"], baseline=spec.get("baseline"),
                               overrides=dict(spec.get("overrides") or {}),
                               evaluate_overrides=dict(spec.get("evaluate_overrides") or {}),
                               description=str(spec.get("description", "")))
    for method in methods.values():
        if method.baseline is not None and method.baseline not in methods:
            raise GridError(f"{path}: method {method.name!r} has baseline {method.baseline!r}, which is not a method")
    likes = {name: _timed_like(path, name, spec.get("timed_like"), methods)
             for name, spec in data["methods"].items() if spec.get("timed_like") is not None}
    for name, (like, factor) in likes.items():
        methods[name] = replace(methods[name], timed_like=methods[like], timed_like_factor=factor)

    cells: list[Cell] = []
    for i, group in enumerate(data["groups"]):
        where = f"{path}: groups[{i}]"
        if not isinstance(group, dict):
            raise GridError(f"{where} must be a mapping (labeled, seeds, methods)")
        _unknown(where, group, _GROUP_KEYS)
        for key in ("labeled", "seeds", "methods"):
            if not group.get(key):
                raise GridError(f"{where} has no '{key}'")
        if not isinstance(group["labeled"], int) or group["labeled"] < 1:
            raise GridError(f"{where}: 'labeled' must be a positive integer, got {group['labeled']!r}")
        seeds = group["seeds"] if isinstance(group["seeds"], list) else [group["seeds"]]
        if not all(isinstance(s, int) for s in seeds):
            raise GridError(f"{where}: 'seeds' must be integers, got {seeds!r}")
        unknown = [m for m in group["methods"] if m not in methods]
        if unknown:
            raise GridError(f"{where} names methods {unknown} that 'methods' does not define")
        label = str(group.get("name", f"{group['labeled']} labeled"))
        # seed-major: a grid stopped part-way holds every method of the first seeds, so its comparisons are paired
        cells += [Cell(methods[m], int(group["labeled"]), int(s), label) for s in seeds for m in group["methods"]]
    names = [c.name for c in cells]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise GridError(f"{path}: cells {duplicated} appear in more than one group")

    trace_interval = int(data.get("trace_interval", 25))
    if trace_interval < 1:
        raise GridError(f"{path}: trace_interval must be >= 1, got {trace_interval}")
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise GridError(f"{path}: 'overrides' must be a mapping of bundle parameters")
    published = _published(path, data.get("published"), methods)
    return Grid(path=path, name=str(data.get("name", path.stem)), labeled_key=str(data.get("labeled_key",
                "labeled_patients")), configs=tuple(data.get("configs", ("train.json", "train_cpu.json"))),
                evaluate_configs=tuple(data.get("evaluate_configs", ("evaluate.json",))), overrides=dict(overrides),
                trace_interval=trace_interval, bundles_dir=bundles_dir, methods=methods, cells=tuple(cells),
                description=str(data.get("description", "")), published=published)


def _timed_like(path: Path, name: str, spec: Any, methods: dict[str, Method]) -> tuple[str, float]:
    """A method's ``timed_like``: ``NAME`` or ``{method: NAME, factor: F}`` -> (NAME, F)."""
    where = f"{path}: method {name!r}: timed_like"
    if isinstance(spec, str):
        spec = {"method": spec}
    if not isinstance(spec, dict) or set(spec) - {"method", "factor"} or "method" not in spec:
        raise GridError(f"{where} must be a method name or {{method: NAME, factor: F}}, got {spec!r}")
    like, factor = spec["method"], spec.get("factor", 1.0)
    if like not in methods or like == name:
        raise GridError(f"{where} names {like!r}, which is not another method of the grid")
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
        raise GridError(f"{where}: factor must be a positive number, got {factor!r}")
    return like, float(factor)


def _published(path: Path, spec: Any, methods: dict[str, Method]) -> dict | None:
    """The optional ``published`` section: results of the literature placed next to the grid's methods in the report
    (``source``, the ``setting`` they were measured at, and ``rows`` of method / labeled / name / dice [/ hd95], Dice
    as a fraction)."""
    if spec is None:
        return None
    where = f"{path}: published"
    if not isinstance(spec, dict):
        raise GridError(f"{where} must be a mapping (source, setting, rows)")
    _unknown(where, spec, _PUBLISHED_KEYS)
    for key in ("source", "setting", "rows"):
        if not spec.get(key):
            raise GridError(f"{where} has no '{key}'")
    rows = []
    for i, row in enumerate(spec["rows"]):
        at = f"{where}.rows[{i}]"
        if not isinstance(row, dict):
            raise GridError(f"{at} must be a mapping (method, labeled, name, dice)")
        _unknown(at, row, _PUBLISHED_ROW_KEYS)
        missing = [k for k in ("method", "labeled", "name", "dice") if row.get(k) is None]
        if missing:
            raise GridError(f"{at} has no {missing}")
        if row["method"] not in methods:
            raise GridError(f"{at} names method {row['method']!r}, which is not a method of the grid")
        for key in ("dice", "hd95"):
            value = row.get(key)
            if value is not None and (not isinstance(value, (int, float)) or (key == "dice" and not 0 <= value <= 1)):
                raise GridError(f"{at}: '{key}' must be a number{' in [0, 1] (a fraction, not %)' if key == 'dice' else ''}, "
                                f"got {value!r}")
        rows.append({"method": row["method"], "labeled": int(row["labeled"]), "name": str(row["name"]),
                     "dice": float(row["dice"]), "hd95": None if row.get("hd95") is None else float(row["hd95"])})
    return {"source": str(spec["source"]), "setting": str(spec["setting"]), "rows": rows}


def cli_args(values: dict[str, Any]) -> list[str]:
    """``--key value`` arguments of ``monai.bundle run`` for bundle parameters (non-strings as JSON)."""
    args: list[str] = []
    for key, value in values.items():
        if isinstance(value, bool):  # fire reads Python literals: True / False
            text = str(value)
        else:
            text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        args += [f"--{key}", text]
    return args
