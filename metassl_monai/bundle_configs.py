# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Compose the bundles' flat config files from hand-edited layers (``python -m metassl_monai compose_configs``).

Every bundle folder under ``bundles/`` is a complete MONAI bundle: the Model Zoo checks, MONAI Label's monaibundle
app, ``ckpt_export`` and ``python -m monai.bundle run`` read its flat ``configs/*.json`` (and ``logging.conf``). Those
that are written by :data:`COMPOSITIONS` are *generated*: their first key ``"_generated"`` names this command, and
``tests/test_bundle_configs.py`` fails when a committed file differs from its composition. Everything else in
``configs/`` is hand-edited, and so are the layers in ``bundles/_layers/``.

A composition reads its layers in order and merges each into the result the way MONAI merges config files given to
``--config_file`` (:meth:`monai.bundle.ConfigParser.load_config_files`): a key ``"a#b#c"`` replaces (or adds) the item
at that path, and a key ``"+a"`` extends the list or dict ``a`` instead of replacing it. Both also work in *overlay*
files (``evaluate.json``, ``multi_gpu_train.json``, ...), which keep ``#`` keys that MONAI applies at run time: a later
layer's ``"validate#handlers"`` replaces the earlier layer's ``"validate#handlers"``, and its
``"validate#overlay_saver#slice_axis"`` goes inside an earlier ``"validate#overlay_saver"``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "COMPOSITIONS", "LAYERS", "BUNDLES", "GENERATED_KEY", "compose", "compose_all", "dumps", "render", "stale_files",
]

BUNDLES = Path(__file__).resolve().parent.parent / "bundles"
LAYERS = BUNDLES / "_layers"
GENERATED_KEY = "_generated"
COMMAND = "python -m metassl_monai compose_configs"

#: generated file (relative to ``bundles/``) -> its layers, in merge order (relative to ``bundles/``)
COMPOSITIONS: dict[str, tuple[str, ...]] = {}
for _b, _data in (("metassl_acdc", "acdc"), ("metassl_la", "la"), ("qgssl_acdc", "acdc"), ("qgssl_la", "la")):
    COMPOSITIONS[f"{_b}/configs/multi_gpu_train.json"] = ("_layers/multi_gpu_train.json",)
    COMPOSITIONS[f"{_b}/configs/multi_gpu_evaluate.json"] = ("_layers/multi_gpu_evaluate.json",)
    COMPOSITIONS[f"{_b}/configs/logging.conf"] = ("_layers/logging.conf",)
    COMPOSITIONS[f"{_b}/configs/metadata.json"] = ("_layers/metadata.json", f"_layers/{_data}/metadata.json",
                                                   f"_layers/{_b}/metadata.json")
    COMPOSITIONS[f"{_b}/configs/evaluate.json"] = ("_layers/evaluate.json", f"_layers/{_data}/evaluate.json")
for _data in ("acdc", "la"):
    # a dataset-agnostic core, the model facts train and inference share, and what each dataset adds (its split,
    # pipelines, inferer); the quality-guided bundles are what they add to the MetaSSL ones
    for _name in ("train.json", "inference.json"):
        COMPOSITIONS[f"metassl_{_data}/configs/{_name}"] = (f"_layers/{_name}", f"_layers/{_data}/model.json",
                                                           f"_layers/{_data}/{_name}")
        COMPOSITIONS[f"qgssl_{_data}/configs/{_name}"] = (f"metassl_{_data}/configs/{_name}", "_layers/quality/model.json",
                                                         f"_layers/quality/{_name}", f"_layers/quality_{_data}/{_name}")
    COMPOSITIONS[f"qgssl_{_data}/configs/train_cpu.json"] = (f"metassl_{_data}/configs/train_cpu.json",
                                                            f"_layers/quality_{_data}/train_cpu.json")
    for _name in ("train_quality.json", "train_snapshots.json"):  # written for ACDC; LA says what differs
        COMPOSITIONS[f"qgssl_{_data}/configs/{_name}"] = (f"_layers/quality/{_name}",) + (
            (f"_layers/quality_la/{_name}",) if _data == "la" else ())
COMPOSITIONS["qgssl_la/configs/train_msd.json"] = ("metassl_la/configs/train_msd.json",)
del _b, _data, _name


def dumps(obj: Any, indent: int = 0, width: int = 120, lead: int = 0) -> str:
    """
    JSON text of ``obj`` laid out as the Model Zoo's configs are: four-space indents, and any list or dict that fits
    on its line (``width`` characters, key included) written on that line, e.g. ``"keys": ["image", "label"]``.
    ``lead`` is how many characters (indent, key) precede ``obj`` on its first line.
    """
    flat = json.dumps(obj)
    if not isinstance(obj, (dict, list)) or not obj or (indent and lead + len(flat) <= width):
        return flat
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(obj, list):
        items = [inner + dumps(v, indent + 4, width, len(inner)) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    items = [inner + json.dumps(k) + ": " + dumps(v, indent + 4, width, len(inner) + len(json.dumps(k)) + 2)
             for k, v in obj.items()]
    return "{\n" + ",\n".join(items) + "\n" + pad + "}"


def _merge(target: dict, key: str, value: Any, source: str) -> None:
    """Merge one ``key: value`` of a layer into ``target`` (MONAI's ``#`` paths and ``+`` prefix; see module doc)."""
    extend = key.startswith("+")
    path = key[1:] if extend else key
    if path in target or "#" not in path:
        parent, last = target, path
    else:
        prefixes = [p for p in target if path.startswith(p + "#")]
        if not prefixes:  # a path into a config this file is overlaid on: kept for MONAI to apply at run time
            parent, last = target, path
        else:
            prefix = max(prefixes, key=len)
            parent, parts = target[prefix], path[len(prefix) + 1:].split("#")
            for part in parts[:-1]:
                try:
                    parent = parent[int(part)] if isinstance(parent, list) else parent[part]
                except (KeyError, IndexError, ValueError) as e:
                    raise KeyError(f"{source}: key '{key}' names '{part}', which the layers before it do not have.") from e
            last = parts[-1]
    if isinstance(parent, list):
        last = int(last)
    exists = (last < len(parent)) if isinstance(parent, list) else (last in parent)
    if extend and exists:
        current = parent[last]
        if isinstance(current, dict) and isinstance(value, dict):
            current.update(value)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(value)
        else:
            raise TypeError(f"{source}: '{key}' extends a {type(current).__name__} with a {type(value).__name__}.")
        return
    if extend and parent is target:
        last = key  # nothing to extend yet: keep "+key" for MONAI to merge at run time
    parent[last] = value


def _read(path: Path) -> Any:
    if path.suffix != ".json":
        return path.read_text()
    try:
        content = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    content.pop(GENERATED_KEY, None)
    return content


def compose(layers: Sequence[str | Path], root: str | Path = BUNDLES) -> Any:
    """
    Merge ``layers`` (paths relative to ``root``) in order. JSON layers give a dict; text layers (``logging.conf``)
    are taken whole (a single layer). Raises ``KeyError``/``TypeError`` naming the layer and key that cannot merge.
    """
    paths = [Path(root) / p for p in layers]
    if paths[0].suffix != ".json":
        if len(paths) != 1:
            raise ValueError(f"only JSON configs are merged; got text layers {layers}")
        return _read(paths[0])
    result: dict = {}
    for path in paths:
        for key, value in _read(path).items():
            _merge(result, key, value, source=str(path))
    return json.loads(json.dumps(result))  # no object shared between items


def render(target: str, layers: Sequence[str], root: str | Path = BUNDLES) -> str:
    """The text of the generated file ``target``: a first key naming the command and its layers, then the merge."""
    content = compose(layers, root)
    note = f"generated by `{COMMAND}` from {', '.join('bundles/' + p for p in layers)}: edit those, not this file"
    if isinstance(content, str):
        return f"# {note}\n" + content
    # the bundles' own files are laid out as the Model Zoo's pre-commit hook writes JSON (4-space indents, one item a line)
    return json.dumps({GENERATED_KEY: note, **content}, indent=4, ensure_ascii=False) + "\n"


def stale_files(root: str | Path = BUNDLES) -> list[str]:
    """The generated files (relative to ``root``) whose committed text differs from their composition."""
    root = Path(root)
    return [t for t, layers in COMPOSITIONS.items()
            if not (root / t).is_file() or (root / t).read_text() != render(t, layers, root)]


def compose_all(root: str | Path = BUNDLES, check: bool = False) -> list[str]:
    """
    Write every generated file of :data:`COMPOSITIONS` (in order: a generated file may be another's layer) and
    return those that changed; with ``check``, write nothing and raise ``SystemExit`` listing the stale ones.
    """
    root = Path(root)
    if check:
        stale = stale_files(root)
        if stale:
            raise SystemExit(f"out of date (run `{COMMAND}`): {', '.join(stale)}")
        return []
    changed = []
    for target, layers in COMPOSITIONS.items():
        text = render(target, layers, root)
        path = root / target
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(target)
    return changed
