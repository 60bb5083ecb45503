# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
What the MONAI Model Zoo checks, for every bundle, with MONAI's own tools: metadata against the schema
(`verify_metadata`), network input/output (`verify_net_in_out`), TorchScript export (`ckpt_export`), the workflow
properties (`ConfigWorkflow.check_properties`), the file layout, the README template and the JSON formatting.
MONAI's tools run through their command line (`python -m monai.bundle ...`) in this process (tests/bundle_runner.py);
the workflow properties are checked on the session datasets of tests/conftest.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
import yaml
from bundle_runner import BUNDLES as BUNDLES_DIR
from bundle_runner import REPO, bundle_root, run_bundle

BUNDLES = ["metassl_acdc", "metassl_la", "qgssl_acdc", "qgssl_la"]
SCHEMA = BUNDLES_DIR / "metadata_schema.json"
ZOO_FILE_LIMIT = 25 * 1024 * 1024  # the zoo's limit for a file in the repository; larger ones go to large_files.yml
README_SECTIONS = [
    "# Model Overview",
    "## Data",
    "## Training configuration",
    "## Input",
    "## Output",
    "## Performance",
    "## MONAI Bundle Commands",
    "#### Execute training",
    "#### Override the `train` config to execute multi-GPU training",
    "#### Override the `train` config to execute evaluation with the trained model",
    "#### Execute inference",
    "#### Export checkpoint to TorchScript file",
    "# References",
    "# License",
]


def metadata(bundle: str) -> dict:
    return json.loads((bundle_root(bundle) / "configs" / "metadata.json").read_text())


@pytest.mark.parametrize("bundle", BUNDLES)
def test_verify_metadata_with_monai(bundle, tmp_path):
    """MONAI's verifier against our schema (copied to the download path: verify_metadata then skips the download)."""
    target = tmp_path / "schema.json"
    target.write_bytes(SCHEMA.read_bytes())
    proc = run_bundle("verify_metadata", "--meta_file", str(bundle_root(bundle) / "configs" / "metadata.json"),
                      "--filepath", str(target))
    assert "metadata is verified with no error" in proc.stdout + proc.stderr


def test_schema_rejects_what_the_zoo_rejects(tmp_path):
    """The schema is not vacuous: removing a required field or breaking network_data_format fails verification."""
    from jsonschema import ValidationError, validate

    schema = json.loads(SCHEMA.read_text())
    good = metadata("metassl_acdc")
    validate(good, schema)
    for broken in (
        {k: v for k, v in good.items() if k != "copyright"},
        {**good, "version": "1.0"},
        {**good, "network_data_format": {"inputs": good["network_data_format"]["inputs"], "outputs": {}}},
    ):
        with pytest.raises(ValidationError):
            validate(broken, schema)
    pred = dict(good["network_data_format"]["outputs"]["pred"])
    for key, value in (("spatial_shape", None), ("value_range", [1]), ("channel_def", {}), ("is_patch_data", "no")):
        bad = json.loads(json.dumps(good))
        bad["network_data_format"]["outputs"]["pred"] = {**pred, key: value} if value is not None else {
            k: v for k, v in pred.items() if k != key}
        with pytest.raises(ValidationError):
            validate(bad, schema)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_metadata_is_consistent(bundle):
    meta = metadata(bundle)
    assert meta["version"] in meta["changelog"]
    import monai

    from importlib.metadata import PackageNotFoundError, version

    def minor(v: str) -> tuple[int, int]:
        return tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", v).groups())

    # the versions the bundle was verified with: the environment the tests run in (same MONAI and PyTorch line)
    assert minor(meta["monai_version"]) == minor(monai.__version__)
    assert minor(meta["pytorch_version"]) == minor(torch.__version__)
    assert minor(meta["numpy_version"])[0] == minor(np.__version__)[0]
    for package in meta["required_packages_version"]:
        try:
            version(package)
        except PackageNotFoundError:
            pytest.fail(f"{bundle}: required package {package} is not installed")
    for io in ("inputs", "outputs"):
        for name, spec in meta["network_data_format"][io].items():
            assert sorted(spec["channel_def"], key=int) == [str(i) for i in range(spec["num_channels"])], name
    # the output channels are the classes the train config segments
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(bundle_root(bundle) / "configs" / "train.json"))
    assert meta["network_data_format"]["outputs"]["pred"]["num_channels"] == parser["num_classes"]


@pytest.mark.parametrize("bundle", BUNDLES)
def test_bundle_layout_and_large_files(bundle):
    r = bundle_root(bundle)
    for name in ("LICENSE", "configs/metadata.json", "configs/inference.json", "configs/train.json",
                 "configs/evaluate.json", "configs/multi_gpu_train.json", "configs/multi_gpu_evaluate.json",
                 "configs/logging.conf", "docs/README.md", "docs/data_license.txt", "large_files.yml"):
        assert (r / name).is_file(), name
    assert "Apache License" in (r / "LICENSE").read_text()
    listed = yaml.safe_load((r / "large_files.yml").read_text())["large_files"]
    for entry in listed:
        assert {"path", "url", "hash_val", "hash_type"} <= set(entry), entry
    tracked = subprocess.run(["git", "ls-files", str(r)], capture_output=True, text=True, cwd=REPO).stdout.split()
    for name in tracked:
        size = (REPO / name).stat().st_size if (REPO / name).exists() else 0
        assert size < ZOO_FILE_LIMIT, f"{name} is {size} bytes: too large for the zoo's repository"


@pytest.mark.parametrize("bundle", BUNDLES)
def test_readme_follows_the_zoo_template(bundle):
    text = (bundle_root(bundle) / "docs" / "README.md").read_text()
    headings = [line.strip() for line in text.splitlines() if line.startswith("#")]
    positions = []
    for section in README_SECTIONS:
        assert section in headings, f"{bundle} README lacks '{section}'"
        positions.append(headings.index(section))
    assert positions == sorted(positions), "sections out of the template's order"
    # the documented commands name configs that exist
    for config in set(re.findall(r"configs/([a-z_]+\.json)", text)):
        assert (bundle_root(bundle) / "configs" / config).is_file(), config


@pytest.mark.parametrize("path", sorted(str(p.relative_to(REPO)) for p in BUNDLES_DIR.glob("*/**/*.json")
                                        if "runs" not in p.parts and "_layers" not in p.parts))
def test_json_formatted_as_the_zoo_pre_commit_wants(path):
    """4-space indentation, keys in the author's order (not sorted), a final newline."""
    text = (REPO / path).read_text()
    assert text == json.dumps(json.loads(text), indent=4, ensure_ascii=False) + "\n", path


@pytest.mark.slow
@pytest.mark.parametrize("bundle", BUNDLES)
def test_verify_net_in_out(bundle):
    c = bundle_root(bundle) / "configs"
    proc = run_bundle("verify_net_in_out", "network_def", "--meta_file", str(c / "metadata.json"),
                      "--config_file", str(c / "inference.json"), "--device", "cpu")
    assert "data shape of network is verified with no error" in proc.stdout + proc.stderr


def weights_for(bundle: str, tmp_path: Path) -> Path:
    """The shipped weights, or (bundles that ship none) a randomly initialised network_def."""
    shipped = bundle_root(bundle) / "models" / "model.pt"
    if shipped.is_file():
        return shipped
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(bundle_root(bundle) / "configs" / "inference.json"))
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    torch.save(parser.get_parsed_content("network_def").state_dict(), path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("bundle", BUNDLES)
def test_ckpt_export_torchscript_matches_eager(bundle, tmp_path):
    c = bundle_root(bundle) / "configs"
    ckpt = weights_for(bundle, tmp_path)
    ts = tmp_path / "model.ts"
    run_bundle("ckpt_export", "network_def", "--filepath", str(ts), "--ckpt_file", str(ckpt),
               "--meta_file", str(c / "metadata.json"), "--config_file", str(c / "inference.json"))
    scripted = torch.jit.load(str(ts), map_location="cpu")
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(c / "inference.json"))
    eager = parser.get_parsed_content("network_def")
    eager.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True))
    eager.eval()
    scripted.eval()
    shape = metadata(bundle)["network_data_format"]["inputs"]["image"]["spatial_shape"]
    small = [s if s <= 64 else 64 if len(shape) == 2 else 32 for s in shape]
    x = torch.rand(1, 1, *small, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), eager(x), rtol=1e-4, atol=1e-5)
    # the metadata and the inference config travel inside the TorchScript file, as the zoo expects
    files = {"metadata.json": "", "inference.json": ""}
    torch.jit.load(str(ts), _extra_files=files)
    assert json.loads(files["metadata.json"])["version"] == metadata(bundle)["version"]
    assert "network_def" in json.loads(files["inference.json"])


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, acdc_dataset, la_dataset) -> dict[str, Path]:
    """The session ACDC-like and LA-like datasets (read-only: the workflows only read them), a NIfTI volume for the
    infer workflow and random quality-predictor weights for qgssl_la."""
    base = tmp_path_factory.mktemp("zoo")
    nii = base / "nii"
    nii.mkdir()
    affine = np.diag([1.5, 1.5, 5.0, 1.0])
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((40, 40, 24)).astype(np.float32), affine),
             nii / "case.nii.gz")
    predictor = base / "la_predictor.pt"
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(bundle_root("qgssl_la") / "configs" / f) for f in ("train.json", "train_cpu.json")])
    torch.save(parser.get_parsed_content("quality_predictor_def").state_dict(), predictor)
    return {"acdc": acdc_dataset, "la": la_dataset, "nii": nii, "la_predictor": predictor}


@pytest.mark.slow
@pytest.mark.parametrize("bundle", BUNDLES)
@pytest.mark.parametrize("workflow_type", ["train", "infer"])
def test_config_workflow_properties(bundle, workflow_type, datasets, tmp_path):
    """MONAI's ConfigWorkflow finds every required train / infer property (it instantiates them: real data)."""
    from monai.bundle import ConfigWorkflow

    c = bundle_root(bundle) / "configs"
    configs = ["train.json", "train_cpu.json"] if workflow_type == "train" else ["inference.json"]
    overrides = {"output_dir": str(tmp_path / "out"), "bundle_root": str(bundle_root(bundle))}
    if workflow_type == "train":
        overrides["dataset_dir"] = str(datasets["acdc" if "acdc" in bundle else "la"])
        overrides.update({"labeled_patients": 1} if "acdc" in bundle else {"labeled_cases": 2, "val_cases": 2})
        if bundle == "qgssl_la":
            overrides["quality_ckpt"] = str(datasets["la_predictor"])
    else:
        overrides["dataset_dir"] = str(datasets["nii"])
        if bundle == "qgssl_la":  # inference defaults to the GPU predictor settings: random weights of that shape
            from monai.bundle import ConfigParser

            parser = ConfigParser()
            parser.read_config(str(c / "inference.json"))
            torch.save(parser.get_parsed_content("quality_predictor_def").state_dict(), tmp_path / "predictor.pt")
            overrides["quality_ckpt"] = str(tmp_path / "predictor.pt")
    workflow = ConfigWorkflow(config_file=[str(c / f) for f in configs], meta_file=str(c / "metadata.json"),
                              workflow_type=workflow_type, **overrides)
    workflow.initialize()
    assert workflow.check_properties() == []
    assert workflow.version == metadata(bundle)["version"]
    workflow.finalize()
