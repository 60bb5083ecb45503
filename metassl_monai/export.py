# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Export a bundle of ``bundles/`` as a self-contained MONAI Model Zoo style bundle (``python -m metassl_monai export``).

The bundle's configs reference the package (``$import metassl_monai...``, ``"_target_": "metassl_monai...."``,
``$metassl_monai.x.y(...)``). The export vendors exactly the package modules those references need under the
bundle's ``scripts/`` folder (the zoo convention) and rewrites the configs to use that copy, so the exported bundle
runs where only MONAI, PyTorch, Ignite and nibabel are installed:

- **which modules**: every reference is resolved, by reading the source (``ast``, nothing is imported), to the module
  that defines it (a name re-exported by a package ``__init__`` resolves to the submodule it comes from); then the
  intra-package imports of those modules are followed transitively, including imports inside functions. Package
  ``__init__`` files are not followed: the vendored ones are regenerated to re-export only vendored modules, and
  lazily (PEP 562), so e.g. ``scripts.quality.QualityPredictor`` loads ``predictor.py`` and not the scipy-based
  corruption library next to it.
- **imports in the vendored code**: ``from metassl_monai.x import y`` becomes a relative import; nothing else changes.
- **configs**: ``_target_`` paths become ``scripts.<...>`` (with ``"_requires_": "@scripts"``), expressions use
  ``@scripts.<...>``, and ``$import metassl_monai...`` entries are dropped. ``@scripts`` is a config item that puts
  ``@bundle_root`` on ``sys.path`` and imports the vendored package. It is needed because MONAI (1.6) evaluates
  ``$import`` entries when a workflow is initialised, before ``ConfigWorkflow.run`` adds the bundle root to
  ``sys.path``: a plain ``"$import scripts"`` only works when the current directory is the bundle root.
  Ignite's ``ProgressBar`` needs ``tqdm``: the exported configs skip it (``_disabled_``) when tqdm is not installed.
- **metadata**: ``metassl-monai`` leaves ``required_packages_version``; packages that only some workflows need
  (h5py, tensorboard, scipy, matplotlib, tqdm) move to ``optional_packages_version``; the export provenance
  (``metassl_monai_export``: package version, vendored modules, packages needed per config) is added, and
  ``docs/export.md`` says the same in prose.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ExportError", "BundleExport", "export_bundle", "vendored_modules", "available_bundles", "find_bundle"]

PACKAGE = "metassl_monai"
PACKAGE_DIR = Path(__file__).resolve().parent
REPO_BUNDLES = PACKAGE_DIR.parent / "bundles"
VENDOR_DIR = "scripts"
SCRIPTS_ITEM = "scripts"
SCRIPTS_EXPR = f"$sys.path.insert(0, os.path.abspath(@bundle_root)) or pkgutil.resolve_name('{VENDOR_DIR}')"
SCRIPTS_IMPORTS = ("$import os", "$import sys", "$import pkgutil")
TQDM_GUARD = "$not monai.utils.optional_import('tqdm')[1]"
# what the exported bundle always needs besides monai, torch and numpy (their versions have their own metadata keys)
BASE_PACKAGES = ("pytorch-ignite", "nibabel")
BASE_IMPORTS = {"monai", "torch", "ignite", "nibabel", "numpy"}
# imports whose package is not the one named by the import (torch.utils.tensorboard needs tensorboard)
IMPORT_PACKAGES = {"torch.utils.tensorboard": "tensorboard"}
# components of MONAI / Ignite that configs instantiate and that need a package MONAI does not install
TARGET_PACKAGES = {
    "ProgressBar": "tqdm",
    "TensorBoardStatsHandler": "tensorboard",
    "TensorBoardImageHandler": "tensorboard",
    "TensorBoardHandler": "tensorboard",
    "MLFlowHandler": "mlflow",
}
# files and folders of a bundle that the export copies (everything else, e.g. runs/ or eval/, stays behind)
BUNDLE_FILES = ("LICENSE", "large_files.yml")
_REF = re.compile(rf"(?<![\w.@]){PACKAGE}(?:\.[A-Za-z_]\w*)*")
_JUNK = {"__pycache__", ".ipynb_checkpoints", ".DS_Store"}


class ExportError(RuntimeError):
    """The bundle cannot be exported as asked (unknown bundle, non-empty output, unresolvable reference...)."""


@dataclass
class BundleExport:
    """What :func:`export_bundle` wrote."""

    output: Path
    vendored: list[str]  # package-relative files, e.g. "metassl_monai/losses/heterogeneous.py"
    packages_by_config: dict[str, list[str]] = field(default_factory=dict)
    packages_in_functions: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    optional_packages: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------- bundles


def available_bundles() -> list[str]:
    """Names of the bundles in the repository's ``bundles/`` folder."""
    if not REPO_BUNDLES.is_dir():
        return []
    return sorted(p.name for p in REPO_BUNDLES.iterdir() if (p / "configs" / "metadata.json").is_file())


def find_bundle(bundle: str | os.PathLike) -> Path:
    """A bundle folder from a path, or from a name in ``bundles/``; ExportError listing the available ones."""
    path = Path(bundle)
    if (path / "configs").is_dir():
        return path.resolve()
    if (REPO_BUNDLES / str(bundle) / "configs").is_dir() and os.sep not in str(bundle):
        return (REPO_BUNDLES / str(bundle)).resolve()
    raise ExportError(f"unknown bundle {str(bundle)!r}: not a bundle folder (no configs/) nor one of "
                      f"{', '.join(available_bundles()) or 'none (no bundles/ folder next to the package)'}")


def _config_files(bundle_dir: Path) -> list[Path]:
    return sorted(p for p in (bundle_dir / "configs").iterdir() if p.suffix == ".json" and p.is_file())


# -------------------------------------------------------------------------------------------- module resolution


def _module_file(dotted: str) -> Path | None:
    """The source file of a module of the package (``__init__.py`` for a package), or None."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file() and len(parts) > 1:
        return base.with_suffix(".py")
    return None


def _is_package(dotted: str) -> bool:
    path = _module_file(dotted)
    return path is not None and path.name == "__init__.py"


def _rel(dotted: str) -> str:
    """``metassl_monai.losses.heterogeneous`` -> ``metassl_monai/losses/heterogeneous.py``."""
    path = _module_file(dotted)
    return path.relative_to(PACKAGE_DIR.parent).as_posix()


def _parse(dotted: str) -> ast.Module:
    path = _module_file(dotted)
    return ast.parse(path.read_text(), filename=str(path))


def _absolute(module: str | None, level: int, importer: str) -> str:
    """The absolute module named by ``from <level dots><module> import`` inside module ``importer``."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _package_exports(package: str) -> dict[str, str]:
    """Names a package ``__init__`` imports from its submodules: ``{name: "pkg.sub.attr"}`` (``"pkg.sub"`` for
    ``from . import sub``); names it defines itself map to ``"pkg:local"``."""
    exports: dict[str, str] = {}
    for node in _parse(package).body:
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node.module, node.level, package)
            if source.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                exports[alias.asname or alias.name] = f"{source}.{alias.name}"
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            exports[node.name] = f"{package}:local"
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id != "__all__":
                    exports[target.id] = f"{package}:local"
    return exports


def _defines(module: str, name: str) -> bool:
    for node in _parse(module).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                return True
    return False


def resolve_reference(reference: str, _seen: frozenset = frozenset()) -> str:
    """
    The module of the package that defines ``reference`` (a dotted name such as
    ``metassl_monai.quality.QualityPredictor`` -> ``metassl_monai.quality.predictor``; a module or package
    reference resolves to itself). ExportError when the package does not have it.
    """
    if reference in _seen:
        raise ExportError(f"circular re-export of {reference}")
    parts = reference.split(".")
    for i in range(len(parts), 0, -1):
        module = ".".join(parts[:i])
        if _module_file(module) is not None:
            break
    else:
        raise ExportError(f"{reference} is not part of the {PACKAGE} package")
    rest = parts[i:]
    if not rest:
        return module
    name = rest[0]
    if _is_package(module):
        target = _package_exports(module).get(name)
        if target is None:
            raise ExportError(f"{reference}: {_rel(module)} does not export {name!r}")
        if target.endswith(":local"):
            return module
        return resolve_reference(target, _seen | {reference})
    if not _defines(module, name):
        raise ExportError(f"{reference}: {_rel(module)} does not define {name!r}")
    return module


def _intra_imports(module: str) -> list[tuple[ast.AST, list[str]]]:
    """Every import statement of ``module`` (also inside functions) that reaches into the package, with the
    dotted references it imports."""
    found = []
    for node in ast.walk(_parse(module)):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node.module, node.level, module)
            if source.split(".")[0] == PACKAGE:
                found.append((node, [f"{source}.{a.name}" for a in node.names]))
        elif isinstance(node, ast.Import):
            refs = [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
            if refs:
                found.append((node, refs))
    return found


def _is_stdlib(name: str) -> bool:
    if hasattr(sys, "stdlib_module_names"):  # Python >= 3.10
        return name in sys.stdlib_module_names
    import sysconfig
    from importlib.util import find_spec

    spec = find_spec(name)
    origin = getattr(spec, "origin", None) or ""
    return spec is not None and (origin in ("built-in", "frozen") or (
        origin.startswith(sysconfig.get_paths()["stdlib"]) and "site-packages" not in origin))


def _third_party_imports(module: str) -> dict[str, list[str]]:
    """Top-level packages (import names) a module imports that are not stdlib, the package or what every export
    needs: ``{name: []}`` when imported at module level, else ``{name: ["<file>:<function>", ...]}`` (the
    functions that import it when they run)."""
    tree = _parse(module)
    found: dict[str, list[str]] = {}

    def visit(node: ast.AST, function: str | None) -> None:
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            mapped = next((pkg for prefix, pkg in IMPORT_PACKAGES.items() if name.startswith(prefix)), None)
            root = mapped or name.split(".")[0]
            if root == PACKAGE or root == "__future__" or _is_stdlib(root):
                continue
            if root in BASE_IMPORTS and mapped is None:
                continue
            if function is None:
                found[root] = []
            elif found.get(root, None) != []:
                found.setdefault(root, []).append(f"{Path(_rel(module)).name}:{function}")
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and function is None \
                else function
            visit(child, inner)

    visit(tree, None)
    return found


def vendored_modules(references: Iterable[str]) -> list[str]:
    """
    The modules to vendor for ``references`` (dotted names from configs): the defining modules, their
    intra-package imports transitively, and the package ``__init__`` of each of them; sorted dotted names.
    """
    needed: set[str] = set()
    queue = [resolve_reference(r) for r in references]
    while queue:
        module = queue.pop()
        if module in needed:
            continue
        needed.add(module)
        parts = module.split(".")
        queue.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # the packages it lives in
        if _is_package(module):
            continue  # __init__ files are regenerated, their re-exports are not followed
        for _, refs in _intra_imports(module):
            queue.extend(resolve_reference(r) for r in refs)
    return sorted(needed)


# ------------------------------------------------------------------------------------------------ vendoring code


def _target_path(out: Path, module: str) -> Path:
    rel = _module_file(module).relative_to(PACKAGE_DIR)
    return out / VENDOR_DIR / rel


def _header(module: str, version: str) -> str:
    return (f"# Vendored from {PACKAGE} {version} ({_rel(module)}) by `python -m {PACKAGE} export`: intra-package\n"
            f"# imports are relative, nothing else is changed. Edit the package, not this copy.\n")


def _vendor_module(module: str, version: str) -> str:
    """The source of ``module`` with its intra-package absolute imports made relative."""
    path = _module_file(module)
    source = path.read_text()
    lines = source.splitlines(keepends=True)
    edits = []
    for node, _ in _intra_imports(module):
        if isinstance(node, ast.Import):
            raise ExportError(f"{_rel(module)}:{node.lineno}: `import {PACKAGE}...` cannot be vendored; "
                              f"use `from {PACKAGE}.x import y`")
        if node.level:
            continue
        depth = len(module.split(".")) - 1  # packages between the module and the package root
        rel = "." * depth + node.module[len(PACKAGE) + 1:] if node.module != PACKAGE else "." * depth
        edits.append((node.lineno - 1, node.col_offset, node.module, rel))
    for line_no, col, old, new in sorted(edits, reverse=True):
        line = lines[line_no]
        head, tail = line[:col], line[col:]
        tail = re.sub(rf"^from\s+{re.escape(old)}(?=\s)", f"from {new}", tail, count=1)
        lines[line_no] = head + tail
    return _header(module, version) + "".join(lines)


def _vendor_init(package: str, vendored: set[str], version: str) -> str:
    """A lazy ``__init__`` for ``package`` that re-exports only what comes from vendored modules."""
    tree = _parse(package)
    source = _module_file(package).read_text()
    exports: dict[str, tuple[str, str]] = {}
    local: list[str] = []
    original_all: list[str] | None = None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.ImportFrom):
            source_module = _absolute(node.module, node.level, package)
            for alias in node.names:
                full = f"{source_module}.{alias.name}"
                if _module_file(full) is not None:  # from . import sub
                    target = full
                    attr = None
                else:
                    target = source_module
                    attr = alias.name
                if target in vendored and target.rsplit(".", 1)[0] == package:
                    exports[alias.asname or alias.name] = (target.rsplit(".", 1)[1], attr or "")
        elif isinstance(node, ast.Import):
            raise ExportError(f"{_rel(package)}:{node.lineno}: plain imports in a package __init__ are not supported")
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            original_all = list(ast.literal_eval(node.value))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue  # the docstring, re-written below
        else:
            local.append(ast.get_source_segment(source, node))
    submodules = sorted({m.rsplit(".", 1)[1] for m in vendored if m.rsplit(".", 1)[0] == package and m != package})
    names = [n for n in (original_all or list(exports)) if n in exports] + [n for n in exports if n not in
                                                                              (original_all or [])]
    doc = ast.get_docstring(tree)
    note = (f"Vendored from {PACKAGE} {version} ({_rel(package)}) by `python -m {PACKAGE} export`, trimmed to\n"
            f"the modules this bundle uses. A name imports its module on first use (PEP 562), so a workflow needs\n"
            f"only the third-party packages of the modules it touches.")
    header = "".join(line for line in source.splitlines(keepends=True)[:5] if line.startswith("#"))
    out = [header, '"""\n', (doc.strip() + "\n\n") if doc else "", note, '\n"""\n\n',
           "from __future__ import annotations\n\nimport importlib\n\n"]
    out += [segment + "\n" for segment in local]
    if local:
        out.append("\n")
    q = json.dumps  # double-quoted Python string literals
    out.append("_EXPORTS = {" + "".join(f"\n    {q(n)}: ({q(exports[n][0])}, {q(exports[n][1])})," for n in names)
               + ("\n" if names else "") + "}\n")
    out.append("_SUBMODULES = (" + "".join(f"\n    {q(m)}," for m in submodules) + ("\n" if submodules else "")
               + ")\n\n")
    out.append("__all__ = [" + "".join(f"\n    {q(n)}," for n in names) + ("\n" if names else "") + "]\n\n\n")
    out.append(
        "def __getattr__(name: str):\n"
        "    if name in _EXPORTS:\n"
        "        module, attr = _EXPORTS[name]\n"
        "        value = importlib.import_module(f\".{module}\", __name__)\n"
        "        value = getattr(value, attr) if attr else value\n"
        "        globals()[name] = value\n"
        "        return value\n"
        "    if name in _SUBMODULES:\n"
        "        return importlib.import_module(f\".{name}\", __name__)\n"
        "    raise AttributeError(f\"module {__name__!r} has no attribute {name!r}\")\n\n\n"
        "def __dir__() -> list[str]:\n"
        "    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))\n"
    )
    return "".join(out)


# --------------------------------------------------------------------------------------------- config rewriting


def config_references(value) -> list[str]:
    """Every dotted ``metassl_monai...`` reference in a parsed config (strings anywhere in it)."""
    refs: list[str] = []
    if isinstance(value, dict):
        for v in value.values():
            refs += config_references(v)
    elif isinstance(value, list):
        for v in value:
            refs += config_references(v)
    elif isinstance(value, str):
        refs += _REF.findall(value)
    return refs


def _is_package_import(value) -> bool:
    return isinstance(value, str) and re.match(rf"^\$\s*(import|from)\s+{PACKAGE}\b", value) is not None


def _rewrite(value, where: str):
    """The config value with package references pointing at the vendored copy (see the module docstring)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out[k] = _rewrite(v, f"{where}#{k}")
        target = value.get("_target_")
        if isinstance(target, str) and _REF.match(target):
            requires = out.get("_requires_")
            if requires is None:
                out["_requires_"] = f"@{SCRIPTS_ITEM}"
            else:
                out["_requires_"] = (requires if isinstance(requires, list) else [requires]) + [f"@{SCRIPTS_ITEM}"]
        if isinstance(target, str) and target.split(".")[-1] in TARGET_PACKAGES and \
                TARGET_PACKAGES[target.split(".")[-1]] == "tqdm" and "_disabled_" not in out:
            out["_disabled_"] = TQDM_GUARD
        return out
    if isinstance(value, list):
        kept = []
        for i, v in enumerate(value):
            if _is_package_import(v):
                if not re.fullmatch(rf"\$\s*import\s+{PACKAGE}(\.\w+)*\s*", v):
                    raise ExportError(f"{where}: {v!r}: only `$import {PACKAGE}.x` entries can be rewritten")
                continue
            kept.append(_rewrite(v, f"{where}#{i}"))
        return kept
    if isinstance(value, str) and _REF.search(value):
        if _is_package_import(value):
            raise ExportError(f"{where}: {value!r} cannot be rewritten outside a list of imports")
        if value.startswith("$"):
            new = _REF.sub(lambda m: f"@{SCRIPTS_ITEM}" + m.group(0)[len(PACKAGE):], value)
            _check_monai_can_parse(new, where)
            return new
        return _REF.sub(lambda m: VENDOR_DIR + m.group(0)[len(PACKAGE):], value)
    return value


def _check_monai_can_parse(expression: str, where: str) -> None:
    """MONAI parses every expression containing "import" as Python before substituting references: a reference in
    such an expression makes the workflow fail, so refuse to write it."""
    if "import" in expression:
        try:
            ast.parse(expression[1:])
        except SyntaxError as err:
            raise ExportError(f"{where}: {expression!r} mixes 'import' and an @reference, which MONAI cannot "
                              "parse") from err


def rewrite_config(config: dict, name: str) -> dict:
    """
    A config with the vendored package instead of ``metassl_monai`` (``name`` is for error messages). The
    ``"_generated"`` note of a config composed from the repository's layers is dropped: the export has no layers.
    """
    config = {k: v for k, v in config.items() if k != "_generated"}
    uses_package = bool(config_references(config))
    if uses_package and SCRIPTS_ITEM in config:
        raise ExportError(f"{name} already has a {SCRIPTS_ITEM!r} item: the export needs that id")
    new = _rewrite(config, name)
    if not uses_package or "imports" not in new:
        return new  # a config merged over a base config that defines @scripts
    imports = list(new["imports"])
    imports += [entry for entry in SCRIPTS_IMPORTS if entry not in imports]
    out = {}
    for k, v in new.items():
        out[k] = imports if k == "imports" else v
        if k == ("bundle_root" if "bundle_root" in new else "imports"):
            out[SCRIPTS_ITEM] = SCRIPTS_EXPR
    return out


def format_json(value) -> str:
    """JSON as the zoo's pre-commit wants it: 4-space indentation, keys in the author's order, a final newline."""
    return json.dumps(value, indent=4, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------------- packages


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _distribution(import_name: str) -> str:
    if import_name in TARGET_PACKAGES.values() or import_name == "tensorboard":
        return import_name
    return (importlib.metadata.packages_distributions().get(import_name) or [import_name])[0]


def packages_needed(config: dict) -> tuple[list[str], dict[str, list[str]]]:
    """
    Packages besides monai/torch/ignite/nibabel/numpy that a config's workflow needs: ``(needed, in_functions)``.
    ``needed``: imported at module level by the vendored modules the config reaches, or needed by a MONAI/Ignite
    component it instantiates (ProgressBar: tqdm, TensorBoard handlers: tensorboard). ``in_functions``: imported only
    inside functions of those modules, ``{package: ["file.py:function", ...]}``: needed only if those run.
    """
    refs = config_references(config)
    needed: set[str] = set()
    in_functions: dict[str, set[str]] = {}
    for module in vendored_modules(refs) if refs else []:
        if _is_package(module):
            continue
        for name, functions in _third_party_imports(module).items():
            if functions:
                in_functions.setdefault(_distribution(name), set()).update(functions)
            else:
                needed.add(_distribution(name))

    # ProgressBar (tqdm) is not listed: the exported configs skip it when tqdm is missing
    needed.update(TARGET_PACKAGES[t.split(".")[-1]] for t in _targets(config)
                  if TARGET_PACKAGES.get(t.split(".")[-1], "tqdm") != "tqdm")
    return sorted(needed), {k: sorted(v) for k, v in sorted(in_functions.items()) if k not in needed}


# ------------------------------------------------------------------------------------------------------ export


def _targets(value) -> Iterable[str]:
    """Every ``_target_`` string of a config."""
    if isinstance(value, dict):
        if isinstance(value.get("_target_"), str):
            yield value["_target_"]
        for v in value.values():
            yield from _targets(v)
    elif isinstance(value, list):
        for v in value:
            yield from _targets(v)


def _uses_progress_bar(configs: Iterable) -> bool:
    return any(t.split(".")[-1] == "ProgressBar" for c in configs for t in _targets(c))


def _rewrite_metadata(meta: dict, vendored: list[str], by_config: dict[str, list[str]],
                      in_functions: dict[str, dict[str, list[str]]], version: str, configs: Iterable = ()) -> dict:
    meta = json.loads(json.dumps(meta))
    required = {k: v for k, v in meta.get("required_packages_version", {}).items() if k not in ("metassl-monai",
                                                                                                  "metassl_monai")}
    optional = dict(meta.get("optional_packages_version", {}))
    needed_somewhere = sorted({p for packages in by_config.values() for p in packages} |
                              {p for packages in in_functions.values() for p in packages})
    for dist in BASE_PACKAGES:
        required[dist] = _version(dist) or required.get(dist, "")
    for dist in list(required):
        if dist not in BASE_PACKAGES:
            optional.setdefault(dist, required.pop(dist))
    if _uses_progress_bar(configs):
        needed_somewhere.append("tqdm")
    for dist in needed_somewhere:
        if dist not in required:
            v = optional.get(dist) or _version(dist)
            if v:
                optional[dist] = v
    meta["required_packages_version"] = required
    if optional:
        meta["optional_packages_version"] = dict(sorted(optional.items()))
    meta["metassl_monai_export"] = {
        "metassl_monai_version": version,
        "vendored_modules": vendored,
        "packages_by_config": by_config,
        "packages_imported_in_functions_by_config": {k: v for k, v in in_functions.items() if v},
    }
    return meta


def _export_doc(name: str, vendored: list[str], by_config: dict[str, list[str]],
                in_functions: dict[str, dict[str, list[str]]], optional: dict[str, str], version: str) -> str:
    def when(packages: dict[str, list[str]]) -> str:
        return "; ".join(f"{p} ({', '.join(f'`{f}`' for f in fs)})" for p, fs in packages.items()) or "-"

    rows = "\n".join(f"| `configs/{c}` | {', '.join(p) if p else 'none'} | {when(in_functions.get(c, {}))} |"
                     for c, p in by_config.items())
    files = "\n".join(f"- `{VENDOR_DIR}/{Path(v).relative_to(PACKAGE).as_posix()}` (from `{v}`)" for v in vendored)
    return f"""# Self-contained export of {name}

Exported by `python -m {PACKAGE} export` from {PACKAGE} {version}. The configs use a vendored copy of exactly
the package code they reference, in `{VENDOR_DIR}/` (the MONAI Model Zoo convention): no `{PACKAGE}` install is
needed. Every workflow needs `monai`, `torch`, `pytorch-ignite`, `nibabel` (and numpy); `python -m monai.bundle`
itself needs `fire` (MONAI's `fire` extra: `pip install "monai[fire]"`).

## Packages per config

Besides those, a workflow needs the packages of the configs it merges (e.g. evaluation is
`train.json` + `evaluate.json`):

| config | also needs | imported inside functions: needed only when they run |
|---|---|---|
{rows}

Versions tested: {', '.join(f'{k} {v}' for k, v in optional.items()) or 'none'} (`optional_packages_version` of
`configs/metadata.json`). Progress bars (Ignite's `ProgressBar`) are shown when `tqdm` is installed and skipped
otherwise. Training and evaluation on the HDF5 datasets need `h5py`; training logs to TensorBoard (`tensorboard`).

## How the configs find `{VENDOR_DIR}`

Every config that uses the package has an item `"{SCRIPTS_ITEM}": "{SCRIPTS_EXPR}"`: it puts the bundle root on
`sys.path` and imports `{VENDOR_DIR}`, so

    python -m monai.bundle run --config_file /path/to/{name}/configs/inference.json --bundle_root /path/to/{name} ...

works from any directory. Expressions use `@{SCRIPTS_ITEM}.<module>.<name>(...)` and components
`"_target_": "{VENDOR_DIR}.<module>.<Name>"` with `"_requires_": "@{SCRIPTS_ITEM}"`. A plain `"$import {VENDOR_DIR}"`
is not used because MONAI evaluates `$import` entries when the workflow is initialised, before it adds the bundle
root to `sys.path`. Like every zoo bundle with `{VENDOR_DIR}/`, two exported bundles cannot be run in one Python
process (the first `{VENDOR_DIR}` package imported wins).

## Vendored files

{files}
"""


def export_bundle(bundle: str | os.PathLike, output: str | os.PathLike) -> BundleExport:
    """
    Write a self-contained copy of ``bundle`` (a name in ``bundles/`` or a bundle folder) to ``output``: a folder
    (must not exist or be empty) or a ``.zip`` file (must not exist; it holds one folder named like the bundle).
    Nothing is written when anything fails.
    """
    from metassl_monai import __version__

    source = find_bundle(bundle)
    out = Path(output).expanduser().resolve()
    as_zip = out.suffix == ".zip"
    if as_zip and out.exists():
        raise ExportError(f"{out} exists: choose another output path (nothing was written)")
    if not as_zip and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} exists and is not an empty folder: choose another output (nothing was written)")
    if out == source or source in out.parents:
        raise ExportError(f"{out} is inside the bundle {source}: choose an output outside it")

    configs = {p.name: json.loads(p.read_text()) for p in _config_files(source)}
    refs = [r for name, c in configs.items() if name != "metadata.json" for r in config_references(c)]
    modules = vendored_modules(refs)
    vendored = [_rel(m) for m in modules]
    needs = {name: packages_needed(c) for name, c in configs.items() if name != "metadata.json"}
    by_config = {name: n[0] for name, n in needs.items()}
    in_functions = {name: n[1] for name, n in needs.items()}

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        root = staging / source.name
        root.mkdir()
        for name in BUNDLE_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, root / name)
        for folder in ("docs", "models"):
            if (source / folder).is_dir():
                shutil.copytree(source / folder, root / folder, ignore=lambda d, names: [n for n in names if n in
                                                                                        _JUNK or n.startswith(".")])
        (root / "configs").mkdir()
        for path in sorted((source / "configs").iterdir()):
            if path.is_dir() or path.name in _JUNK or path.name.startswith("."):
                continue
            if path.suffix != ".json":
                shutil.copy2(path, root / "configs" / path.name)
            elif path.name == "metadata.json":
                meta = _rewrite_metadata(configs[path.name], vendored, by_config, in_functions, __version__,
                                         configs.values())
                (root / "configs" / path.name).write_text(format_json(meta))
            else:
                (root / "configs" / path.name).write_text(format_json(rewrite_config(configs[path.name], path.name)))
        vendored_set = set(modules)
        for module in modules:
            target = _target_path(root, module)
            target.parent.mkdir(parents=True, exist_ok=True)
            text = _vendor_init(module, vendored_set, __version__) if _is_package(module) else \
                _vendor_module(module, __version__)
            target.write_text(text)
        readme = root / "docs" / "README.md"
        if readme.is_file():  # say at the top that this copy is self-contained
            lines = readme.read_text().splitlines(keepends=True)
            at = 1 if lines and lines[0].startswith("#") else 0
            lines.insert(at, f"\n> Self-contained export of the {source.name} bundle of {PACKAGE} {__version__}: the "
                             f"package code it uses is vendored in `{VENDOR_DIR}/`, see [export.md](export.md) for "
                             f"what each workflow needs. Commands below that start with `python -m {PACKAGE}` "
                             f"need the package itself.\n")
            readme.write_text("".join(lines))
        meta = json.loads((root / "configs" / "metadata.json").read_text()) if "metadata.json" in configs else {}
        optional = meta.get("optional_packages_version", {})
        (root / "docs").mkdir(exist_ok=True)
        (root / "docs" / "export.md").write_text(_export_doc(source.name, vendored, by_config, in_functions, optional,
                                                                 __version__))
        if as_zip:
            tmp_zip = staging / out.name
            with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as zf:
                for path in sorted(root.rglob("*")):
                    if path.is_file():
                        zf.write(path, path.relative_to(staging).as_posix())
            os.replace(tmp_zip, out)
        else:
            if out.exists():
                out.rmdir()  # empty, checked above
            os.replace(root, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BundleExport(output=out, vendored=vendored, packages_by_config=by_config,
                        packages_in_functions=in_functions, optional_packages=optional)
