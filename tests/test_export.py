# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
`python -m metassl_monai export BUNDLE OUT`: a zoo-style bundle whose configs use a vendored copy of exactly the
package code they need under scripts/, and that runs where metassl_monai is not installed (the slow test builds a
clean virtual environment with only torch, monai, pytorch-ignite and nibabel, and runs the exported bundles there).
The command line and the repository bundles run in this process (tests/bundle_runner.py); what must run where
metassl_monai cannot be imported runs in another python process.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from importlib.metadata import version
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from bundle_runner import ACDC_TINY, REPO, bundle_root, config_list, configs, run_bundle, run_cli

from metassl_monai import __version__
from metassl_monai.export import ExportError, export_bundle, resolve_reference

BUNDLES = ["metassl_acdc", "metassl_la", "qgssl_acdc", "qgssl_la"]
# what the metassl_acdc configs use: the MetaSSL loss, the frameworks, the trainer, the handlers, the ACDC / NIfTI
# readers, LoadH5d, the input validation and the multi-GPU helpers; not the quality-guided code nor the dataset synthesisers
METASSL_ACDC_VENDORED = [
    "metassl_monai/__init__.py",
    "metassl_monai/atomic_files.py",
    "metassl_monai/data/__init__.py",
    "metassl_monai/data/acdc.py",
    "metassl_monai/data/atomic_writer.py",
    "metassl_monai/data/cache_dataset.py",
    "metassl_monai/data/datalists.py",
    "metassl_monai/data/nifti.py",
    "metassl_monai/data/paths.py",
    "metassl_monai/data/skip_failed.py",
    "metassl_monai/data/studies.py",
    "metassl_monai/distributed.py",
    "metassl_monai/engines/__init__.py",
    "metassl_monai/engines/fresh_run_log.py",
    "metassl_monai/engines/gpu_settings.py",
    "metassl_monai/engines/random_state.py",
    "metassl_monai/engines/resume.py",
    "metassl_monai/engines/semi_supervised_trainer.py",
    "metassl_monai/engines/streams.py",
    "metassl_monai/frameworks/__init__.py",
    "metassl_monai/frameworks/base.py",
    "metassl_monai/frameworks/cct.py",
    "metassl_monai/frameworks/cps.py",
    "metassl_monai/frameworks/fixmatch.py",
    "metassl_monai/frameworks/mean_teacher.py",
    "metassl_monai/frameworks/rdrop.py",
    "metassl_monai/frameworks/supervised.py",
    "metassl_monai/handlers/__init__.py",
    "metassl_monai/handlers/atomic_checkpoint_saver.py",
    "metassl_monai/handlers/consistency_rampup.py",
    "metassl_monai/handlers/failed_inputs.py",
    "metassl_monai/handlers/iteration.py",
    "metassl_monai/handlers/metrics_json.py",
    "metassl_monai/handlers/metrics_saver.py",
    "metassl_monai/handlers/overlay_png.py",
    "metassl_monai/handlers/region_tensorboard.py",
    "metassl_monai/handlers/spacing_aware_metric.py",
    "metassl_monai/lazy_floats.py",
    "metassl_monai/losses/__init__.py",
    "metassl_monai/losses/branch.py",
    "metassl_monai/losses/class_indices.py",
    "metassl_monai/losses/consistency.py",
    "metassl_monai/losses/heterogeneous.py",
    "metassl_monai/losses/weights.py",
    "metassl_monai/networks/__init__.py",
    "metassl_monai/networks/init.py",
    "metassl_monai/networks/ssl4mis_blocks.py",
    "metassl_monai/networks/ssl4mis_unet.py",
    "metassl_monai/networks/two_decoder_unet.py",
    "metassl_monai/presets.py",
    "metassl_monai/transforms/__init__.py",
    "metassl_monai/transforms/discrete.py",
    "metassl_monai/transforms/input_error.py",
    "metassl_monai/transforms/intensity.py",
    "metassl_monai/transforms/io.py",
    "metassl_monai/transforms/load_image.py",
    "metassl_monai/transforms/slices.py",
    "metassl_monai/transforms/validate.py",
    "metassl_monai/visualize.py",
]


def tree(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("export")
    return {b: export_bundle(b, base / b).output for b in BUNDLES}


def vendored_list(out: Path) -> list[str]:
    return json.loads((out / "configs" / "metadata.json").read_text())["metassl_monai_export"]["vendored_modules"]


def test_metassl_acdc_vendors_exactly_what_its_configs_use(exported):
    out = exported["metassl_acdc"]
    assert vendored_list(out) == METASSL_ACDC_VENDORED
    files = sorted(p.relative_to(out).as_posix() for p in (out / "scripts").rglob("*.py"))
    assert files == sorted("scripts/" + f[len("metassl_monai/"):] for f in METASSL_ACDC_VENDORED)
    assert "metassl_monai/losses/heterogeneous.py" in vendored_list(out)
    assert not any(v.startswith("metassl_monai/quality/") for v in vendored_list(out))
    assert not (out / "scripts" / "quality").exists()


@pytest.mark.parametrize("bundle, present, absent", [
    ("metassl_la", ["data/la.py", "handlers/spacing_aware_metric.py"], ["quality/", "losses/quality.py",
                                                                         "data/synthetic"]),
    ("qgssl_acdc", ["quality/ops/__init__.py", "quality/ops/registry.py", "quality/predictor.py", "quality/qc.py",
                    "losses/quality.py", "losses/combined.py", "handlers/spacing_aware_metric.py"],
     ["data/la.py", "data/synthetic"]),
    ("qgssl_la", ["quality/ops/__init__.py", "quality/ops/registry.py", "data/la.py",
                  "handlers/spacing_aware_metric.py"], ["data/synthetic"]),
])
def test_vendored_modules_follow_the_configs(exported, bundle, present, absent):
    vendored = vendored_list(exported[bundle])
    for name in present:
        assert f"metassl_monai/{name}" in vendored, name
    for prefix in absent:
        assert not any(v.startswith(f"metassl_monai/{prefix}") for v in vendored), prefix


@pytest.mark.parametrize("bundle", BUNDLES)
def test_exported_configs_use_only_the_vendored_copy(exported, bundle):
    out = exported[bundle]
    for path in sorted((out / "configs").glob("*.json")):
        text = path.read_text()
        assert text == json.dumps(json.loads(text), indent=4, ensure_ascii=False) + "\n", "zoo JSON formatting"
        if path.name != "metadata.json":
            assert "metassl_monai" not in text, path.name
    # key order is the author's: the exported train.json lists its items as the source does (+ the scripts item;
    # less the `_generated` note: an exported bundle is not composed from this repository's layers)
    source = json.loads((REPO / "bundles" / bundle / "configs" / "train.json").read_text())
    train = json.loads((out / "configs" / "train.json").read_text())
    assert "_generated" in source and "_generated" not in train
    assert [k for k in train if k != "scripts"] == [k for k in source if k != "_generated"]
    assert train["scripts"] == "$sys.path.insert(0, os.path.abspath(@bundle_root)) or pkgutil.resolve_name('scripts')"
    assert {"$import os", "$import sys", "$import pkgutil"} <= set(train["imports"])
    assert train["frameworks"]["mean_teacher"]["_target_"] == "scripts.frameworks.MeanTeacher"
    assert train["frameworks"]["mean_teacher"]["_requires_"] == "@scripts"
    assert train["ssl_losses"]["metassl"]["unlabeled"]["weights"] == "$@preset.unlabeled_weights"
    assert train["preset"] == "$@scripts.presets.paper_preset(@framework, len(@patch_size))"
    inference = json.loads((out / "configs" / "inference.json").read_text())
    assert inference["datalist"] == "$@scripts.data.nifti_datalist(@dataset_dir)"
    bars = re.findall(r'"_target_": "ignite\.handlers\.ProgressBar",([^}]*)}', (out / "configs" / "inference.json")
                      .read_text())
    assert bars and all('"_disabled_": "$not monai.utils.optional_import(\'tqdm\')[1]"' in b for b in bars)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_vendored_code_imports_itself_relatively(exported, bundle):
    for path in (exported[bundle] / "scripts").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith("metassl_monai"), (path, node.lineno)
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("metassl_monai") for a in node.names), (path, node.lineno)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_every_config_reference_resolves_without_the_package(exported, bundle):
    """In a subprocess where metassl_monai cannot be imported, every scripts.<...> name of the configs resolves, and
    the names of the inference config resolve without h5py / scipy / matplotlib / tensorboard."""
    out = exported[bundle]
    text = "".join(p.read_text() for p in (out / "configs").glob("*.json") if p.name != "metadata.json")
    names = sorted(set(re.findall(r"(?<![\w.])@?scripts(?:\.\w+)+", text)))
    inference = sorted(set(re.findall(r"(?<![\w.])@?scripts(?:\.\w+)+", (out / "configs" / "inference.json")
                                      .read_text())))
    code = f"""
import pkgutil, sys
sys.modules["metassl_monai"] = None  # not importable
sys.path.insert(0, {str(out)!r})
heavy = ("h5py", "scipy", "matplotlib", "tensorboard")
for module in heavy:  # as if not installed (MONAI itself imports some of them when they are)
    sys.modules[module] = None
for name in {[n.lstrip("@") for n in inference]!r}:
    pkgutil.resolve_name(name)
for module in heavy:
    del sys.modules[module]
for name in {[n.lstrip("@") for n in names]!r}:
    pkgutil.resolve_name(name)
print("resolved", {len(names)})
"""
    # another process: this one has imported metassl_monai (and h5py, scipy, ...), which must not be importable there
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=out.parent, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resolved {len(names)}" in proc.stdout
    assert len(names) > 5


@pytest.mark.parametrize("bundle", BUNDLES)
def test_metadata_keeps_the_schema_and_says_what_each_workflow_needs(exported, bundle):
    from jsonschema import validate

    meta = json.loads((exported[bundle] / "configs" / "metadata.json").read_text())
    source = json.loads((REPO / "bundles" / bundle / "configs" / "metadata.json").read_text())
    validate(meta, json.loads((REPO / "bundles" / "metadata_schema.json").read_text()))
    assert meta["version"] == source["version"] and meta["network_data_format"] == source["network_data_format"]
    assert meta["required_packages_version"] == {"pytorch-ignite": version("pytorch-ignite"),
                                                 "nibabel": version("nibabel")}
    optional = meta["optional_packages_version"]
    assert {"h5py", "tensorboard", "matplotlib", "tqdm"} <= set(optional)
    assert ("scipy" in optional) == bundle.startswith("qgssl")
    export = meta["metassl_monai_export"]
    assert export["metassl_monai_version"] == __version__
    needs = export["packages_by_config"]
    assert needs["inference.json"] == []
    assert needs["train.json"] == ["h5py", "tensorboard"]
    assert needs["evaluate.json"] == ["h5py"]
    assert export["packages_imported_in_functions_by_config"]["evaluate.json"] == {
        "matplotlib": ["visualize.py:save_overlay_png"]}
    if bundle.startswith("qgssl"):
        assert needs["train_quality.json"] == ["h5py", "scipy", "tensorboard"]
    doc = (exported[bundle] / "docs" / "export.md").read_text()
    assert "| `configs/inference.json` | none |" in doc and "--bundle_root" in doc


@pytest.mark.parametrize("bundle", BUNDLES)
def test_bundle_files_are_copied(exported, bundle):
    source, out = REPO / "bundles" / bundle, exported[bundle]
    copied = tree(out)
    for name, digest in tree(source).items():
        top = name.split("/")[0]
        if name == "docs/README.md":  # with a note on the export after its title
            text = (out / name).read_text()
            assert text.replace(text.splitlines(keepends=True)[1] + text.splitlines(keepends=True)[2], "", 1) == \
                (source / name).read_text()
            assert "Self-contained export" in text and "[export.md](export.md)" in text
        elif top in ("docs", "models", "LICENSE", "large_files.yml") or name.endswith(".conf"):
            assert copied.get(name) == digest, name
    assert (out / "models").is_dir() == (source / "models").is_dir()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        {"LICENSE", "configs", "docs", "scripts", "large_files.yml"} | ({"models"} if (source / "models").is_dir()
                                                                       else set()))


def test_zip_holds_the_same_bundle_as_the_folder(exported, tmp_path):
    archive = export_bundle("metassl_acdc", tmp_path / "metassl_acdc.zip").output
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "unzipped")
        assert all(n.startswith("metassl_acdc/") for n in zf.namelist())
    assert tree(tmp_path / "unzipped" / "metassl_acdc") == tree(exported["metassl_acdc"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metassl_acdc.zip", "unzipped"], "no staging left behind"


def test_bundle_path_export_leaves_runs_and_caches_behind(tmp_path):
    source = tmp_path / "mine"
    shutil.copytree(REPO / "bundles" / "metassl_la", source)
    for junk in ("runs/train/model.pt", "eval/metrics.json", "configs/__pycache__/x.pyc", "docs/.DS_Store",
                 "models/__pycache__/x.pyc"):
        (source / junk).parent.mkdir(parents=True, exist_ok=True)
        (source / junk).write_text("junk")
    (source / "models" / "model.pt").write_bytes(b"weights")
    out = export_bundle(str(source), tmp_path / "out").output
    files = set(tree(out))
    assert "models/model.pt" in files
    assert not any(f.startswith(("runs/", "eval/")) or "__pycache__" in f or ".DS_Store" in f for f in files)


def test_refusals_leave_the_disk_unchanged(tmp_path):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "mine.txt").write_text("user data")
    archive = tmp_path / "taken.zip"
    archive.write_bytes(b"user zip")
    before = tree(tmp_path)
    with pytest.raises(ExportError, match=re.escape(str(occupied))):
        export_bundle("metassl_acdc", occupied)
    with pytest.raises(ExportError, match=re.escape(str(archive))):
        export_bundle("metassl_acdc", archive)
    with pytest.raises(ExportError, match="metassl_acdc, metassl_la, qgssl_acdc, qgssl_la"):
        export_bundle("metassl_nope", tmp_path / "new")
    assert tree(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["occupied", "taken.zip"]
    # an existing empty folder is fine
    (tmp_path / "empty").mkdir()
    assert (export_bundle("metassl_la", tmp_path / "empty").output / "scripts" / "__init__.py").is_file()


def test_cli_export_and_its_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the output paths are relative to the working directory

    def cli(*args):
        return run_cli("export", *args, check=False)

    proc = cli("qgssl_acdc", "out.zip")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "vendored file(s) under scripts/" in proc.stdout and "train_quality.json also needs: h5py, scipy" in \
        proc.stdout
    assert zipfile.is_zipfile(tmp_path / "out.zip")
    proc = cli("unknown", "elsewhere")
    assert proc.returncode != 0 and "metassl_acdc, metassl_la, qgssl_acdc, qgssl_la" in proc.stdout + proc.stderr
    assert not (tmp_path / "elsewhere").exists()


def test_unresolvable_references_are_named():
    assert resolve_reference("metassl_monai.quality.QualityPredictor") == "metassl_monai.quality.predictor"
    assert resolve_reference("metassl_monai.data.nifti_datalist") == "metassl_monai.data.nifti"
    assert resolve_reference("metassl_monai.losses") == "metassl_monai.losses"
    with pytest.raises(ExportError, match=r"metassl_monai/losses/__init__.py does not export 'Nope'"):
        resolve_reference("metassl_monai.losses.Nope")
    with pytest.raises(ExportError, match=r"metassl_monai/data/nifti.py does not define 'nope'"):
        resolve_reference("metassl_monai.data.nifti.nope")


@pytest.mark.slow
@pytest.mark.parametrize("bundle", ["metassl_acdc", "qgssl_acdc"])
def test_exported_bundle_passes_the_zoo_workflow_property_checks(exported, bundle, tmp_path):
    """MONAI's ConfigWorkflow finds every train / infer property of the exported configs (instantiating them), and
    the evaluation of the shipped weights runs, in a process where metassl_monai cannot be imported."""
    from metassl_monai.data import make_acdc_like_dataset, read_list, write_nifti_volumes

    data = make_acdc_like_dataset(tmp_path / "acdc", n_train_patients=2, n_val_patients=1, size=(32, 32),
                                  size_jitter=4, depth_range=(4, 5), seed=3)
    write_nifti_volumes(data / "data", tmp_path / "nii", names=read_list(data, "val.list")[:1], with_labels=False)
    c = exported[bundle] / "configs"
    code = f"""
import sys
sys.modules["metassl_monai"] = None
from monai.bundle import ConfigWorkflow
for kind, files, data in (("infer", ["inference.json"], {str(tmp_path / "nii")!r}),
                          ("train", ["train.json", "train_cpu.json"], {str(data)!r})):
    w = ConfigWorkflow(config_file=[{str(c)!r} + "/" + f for f in files], meta_file={str(c / "metadata.json")!r},
                       workflow_type=kind, bundle_root={str(exported[bundle])!r}, dataset_dir=data,
                       output_dir={str(tmp_path / "out")!r}, labeled_patients=1)
    w.initialize()
    assert w.check_properties() == [], (kind, w.check_properties())
    w.finalize()
    print("CHECKED", kind)
# and the evaluation of the shipped weights on the HDF5 validation volumes
from monai.bundle import run
run("evaluating", config_file=[{str(c / "train.json")!r}, {str(c / "train_cpu.json")!r}, {str(c / "evaluate.json")!r}],
    bundle_root={str(exported[bundle])!r}, dataset_dir={str(data)!r}, output_dir={str(tmp_path / "eval")!r},
    patch_size=[32, 32])
print("CHECKED evaluating")
"""
    # another process: metassl_monai, imported in this one, must not be importable there
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.findall(r"^CHECKED (\w+)$", proc.stdout, re.M) == ["infer", "train", "evaluating"]
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    cases = read_list(data, "val.list")
    assert metrics["num_cases"] == len(cases) == 2 and 0.0 <= metrics["mean_dice"] <= 1.0
    assert len(list((tmp_path / "eval" / "overlays").glob("*.png"))) == len(cases)


# ------------------------------------------------------------------------------------ clean environment (slow)

CLEAN_PACKAGES = {"torch": "torch", "monai": "monai", "pytorch-ignite": "pytorch-ignite", "nibabel": "nibabel"}
TRAIN_EXTRAS = ["h5py", "tensorboard"]  # what ACDC training needs besides (docs/export.md of the export says so)
NOT_IN_CLEAN = ["metassl_monai", "h5py", "scipy", "matplotlib", "tensorboard", "tqdm"]


def pins(extras: list[str] = ()) -> list[str]:
    """The versions of this environment: torch without its local tag (+cpu), MONAI with its CLI extra (fire: the
    ``python -m monai.bundle`` command line needs it)."""
    out = []
    for dist in list(CLEAN_PACKAGES) + list(extras):
        v = version(dist).split("+")[0]
        out.append(f"monai[fire]=={v}" if dist == "monai" else f"{dist}=={v}")
    return out


@pytest.fixture
def venv_root(tmp_path_factory):
    """$METASSL_EXPORT_VENV_CACHE, else .ci-cache/ of the checkout if it exists (ignored by git), else a temporary
    folder (a clean clone builds the environments from scratch, and removes them afterwards: about 1 GB each)."""
    if os.environ.get("METASSL_EXPORT_VENV_CACHE"):
        yield Path(os.environ["METASSL_EXPORT_VENV_CACHE"])
    elif (REPO / ".ci-cache").is_dir():
        yield REPO / ".ci-cache"
    else:
        root = tmp_path_factory.mktemp("venvs")
        yield root
        shutil.rmtree(root, ignore_errors=True)


def clean_venv(root: Path, name: str, requirements: list[str], say) -> Path:
    """A virtual environment with only ``requirements`` (and their dependencies), reused when it was completed."""
    key = hashlib.sha256(" ".join(requirements).encode()).hexdigest()[:10]
    venv = root / f"export-{name}-{key}"
    python = venv / "bin" / "python"
    if (venv / ".complete").is_file() and python.exists():
        say(f"reusing {venv}")
        return python
    shutil.rmtree(venv, ignore_errors=True)
    start = time.time()
    say(f"creating {venv}: pip install {' '.join(requirements)} (a few minutes)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (venv / ".complete").write_text(" ".join(requirements) + "\n")
    say(f"  {name} environment ready in {time.time() - start:.0f} s")
    return python


def run_clean(python: Path, args: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", PYTHONNOUSERSITE="1")
    proc = subprocess.run([str(python), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{' '.join(args[:4])} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"
    return proc


def missing_modules(python: Path, cwd: Path) -> list[str]:
    code = ("import importlib.util, json; print(json.dumps([m for m in %r if importlib.util.find_spec(m) is None]))"
            % (NOT_IN_CLEAN,))
    return json.loads(run_clean(python, ["-c", code], cwd).stdout)


@pytest.mark.slow
def test_exported_bundles_run_in_a_clean_environment(tmp_path, venv_root, capsys, acdc_dataset):
    """
    Export metassl_acdc, qgssl_acdc (as a zip, unpacked like a download) and the 3D metassl_la, then in a virtual
    environment holding only torch, monai (+ fire, its CLI), pytorch-ignite and nibabel, from a folder outside the
    repository: inference on synthetic NIfTI volumes gives the same masks as the repository bundles; then a short
    metassl_acdc training on the synthetic HDF5 data in an environment that adds h5py and tensorboard. The clean
    environments are other pythons (subprocesses); the repository bundles' reference inference runs in this process.
    """
    start = time.time()

    def say(message: str) -> None:
        with capsys.disabled():
            print(f"\n[export clean-venv {time.time() - start:5.0f} s] {message}", end="", flush=True)

    from metassl_monai.data import read_list, write_nifti_volumes

    root = venv_root
    runtime = clean_venv(root, "runtime", pins(), say)
    outside = tmp_path / "elsewhere"  # the working directory of every run: not the repository, no metassl_monai
    outside.mkdir()
    assert missing_modules(runtime, outside) == NOT_IN_CLEAN, "the clean environment must hold none of these"

    say("writing synthetic data and exporting the bundles")
    data = acdc_dataset  # the session dataset (read-only: the runs write under tmp_path)
    nii = tmp_path / "nii"
    write_nifti_volumes(data / "data", nii, names=read_list(data, "val.list")[:1], spacing=(1.4, 1.4, 9.0),
                        with_labels=False)
    la_nii = tmp_path / "la_nii"
    la_nii.mkdir()
    la_affine = np.diag([1.5, 1.5, 2.5, 1.0])
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((40, 40, 24)).astype(np.float32), la_affine),
             la_nii / "case.nii.gz")
    exports = {"metassl_acdc": export_bundle("metassl_acdc", tmp_path / "exp" / "metassl_acdc").output,
               "metassl_la": export_bundle("metassl_la", tmp_path / "exp" / "metassl_la").output}
    archive = export_bundle("qgssl_acdc", tmp_path / "qgssl_acdc.zip").output
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "downloads")
    exports["qgssl_acdc"] = tmp_path / "downloads" / "qgssl_acdc"

    # metassl_la ships no weights: random ones of its network, written from here
    from monai.bundle import ConfigParser
    import torch

    parser = ConfigParser()
    parser.read_config(configs("metassl_la", "inference.json")[0])
    torch.manual_seed(0)
    la_ckpt = tmp_path / "la_model.pt"
    torch.save(parser.get_parsed_content("network_def").state_dict(), la_ckpt)

    cases = {
        "metassl_acdc": (nii, ["--patch_size", "[32,32]"], {0, 1, 2, 3}),
        "qgssl_acdc": (nii, ["--patch_size", "[32,32]"], {0, 1, 2, 3}),
        "metassl_la": (la_nii, ["--patch_size", "[48,48,32]", "--ckpt_path", str(la_ckpt)], {0, 1}),
    }
    for bundle, (inputs, extra, labels) in cases.items():
        out = exports[bundle]
        seg_dir = tmp_path / f"seg_{bundle}"
        t0 = time.time()
        run_clean(runtime, ["-m", "monai.bundle", "run", "--config_file", str(out / "configs" / "inference.json"),
                            "--bundle_root", str(out), "--dataset_dir", str(inputs), "--output_dir", str(seg_dir),
                            *extra], outside)
        say(f"{bundle}: inference in the clean environment took {time.time() - t0:.0f} s")
        # the same run with the repository bundle and metassl_monai installed: the same masks
        ref_dir = tmp_path / f"ref_{bundle}"
        run_bundle("run", "--config_file", configs(bundle, "inference.json")[0], "--bundle_root", bundle_root(bundle),
                   "--dataset_dir", inputs, "--output_dir", ref_dir, *extra)
        for image_path in sorted(inputs.glob("*.nii.gz")):
            name = image_path.name[: -len(".nii.gz")]
            image = nib.load(image_path)
            seg = nib.load(seg_dir / f"{name}_seg.nii.gz")
            assert seg.shape == image.shape
            np.testing.assert_allclose(seg.affine, image.affine, atol=1e-5)
            mask = np.asarray(seg.dataobj)
            assert mask.dtype == np.uint8 and set(np.unique(mask).tolist()) <= labels
            np.testing.assert_array_equal(mask, np.asarray(nib.load(ref_dir / f"{name}_seg.nii.gz").dataobj))
            if bundle == "qgssl_acdc":
                quality = json.loads((seg_dir / f"{name}_quality.json").read_text())
                assert quality == json.loads((ref_dir / f"{name}_quality.json").read_text())

    # training reads the SSL4MIS HDF5 layout (h5py) and logs to TensorBoard: the documented optional packages
    trainer = clean_venv(root, "train", pins(TRAIN_EXTRAS), say)
    assert missing_modules(trainer, outside) == ["metassl_monai", "scipy", "matplotlib", "tqdm"]
    out = exports["metassl_acdc"]
    run_dir = tmp_path / "train"
    t0 = time.time()
    train_configs = config_list([out / "configs" / f for f in ("train.json", "train_cpu.json")])
    run_clean(trainer, ["-m", "monai.bundle", "run", "training", "--config_file", train_configs,
                        "--bundle_root", str(out), "--dataset_dir", str(data), "--output_dir", str(run_dir),
                        "--num_iterations", "4", "--val_interval", "2", *ACDC_TINY], outside)
    say(f"metassl_acdc: 4 training iterations in the clean environment took {time.time() - t0:.0f} s")
    ckpt = torch.load(run_dir / "checkpoint_final.pt", map_location="cpu", weights_only=False)
    assert ckpt["trainer"]["iteration"] == 4
    assert (run_dir / "model.pt").is_file() and list(run_dir.glob("events.out.tfevents.*"))
    say(f"done in {time.time() - start:.0f} s\n")
