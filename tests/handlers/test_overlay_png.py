# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the PNG overlays: :mod:`metassl_monai.visualize` and :class:`metassl_monai.handlers.OverlayPNGSaver`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ignite.engine import Engine

import metassl_monai.handlers.overlay_png as overlay_module
from metassl_monai.handlers.overlay_png import OverlayPNGSaver
from metassl_monai.visualize import most_foreground_slice, save_overlay_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------------------------------------------------
# most_foreground_slice
# ----------------------------------------------------------------------------------------------------------------------
def test_most_foreground_slice_axis0_and_axis2():
    label = np.zeros((4, 5, 6), dtype=np.uint8)
    label[1, :3, 0] = 1  # axis-0 slice 1: 3 voxels
    label[2, 0, :5] = 3  # axis-0 slice 2: 5 voxels (any class > 0 counts)
    label[3, 4, 5] = 2  # axis-0 slice 3: 1 voxel
    assert (label > 0).sum(axis=(1, 2)).tolist() == [0, 3, 5, 1]
    assert most_foreground_slice(label, 0) == 2
    # along axis 2: column 0 has 3 (slice 1) + 1 (slice 2) = 4 voxels, columns 1..4 one each, column 5 one
    assert (label > 0).sum(axis=(0, 1)).tolist() == [4, 1, 1, 1, 1, 1]
    assert most_foreground_slice(label, 2) == 0
    label[0, :, 4] = 1  # column 4 now has 1 + 5 = 6 voxels
    assert most_foreground_slice(label, 2) == 4


def test_most_foreground_slice_ties_take_the_first():
    label = np.zeros((3, 4, 4))
    label[1, 0, 0] = label[2, 1, 1] = 1
    assert most_foreground_slice(label, 0) == 1


@pytest.mark.parametrize("shape, axis, expected", [((4, 5, 7), 0, 2), ((4, 5, 7), 2, 3), ((4, 5, 7), 1, 2),
                                                   ((1, 3, 3), 0, 0), ((6, 6), 1, 3)])
def test_most_foreground_slice_empty_label_gives_the_middle(shape, axis, expected):
    assert most_foreground_slice(np.zeros(shape, dtype=np.int64), axis) == expected


# ----------------------------------------------------------------------------------------------------------------------
# save_overlay_png
# ----------------------------------------------------------------------------------------------------------------------
def read_png(path):
    import matplotlib.image as mpimg

    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    return mpimg.imread(path)


@pytest.mark.parametrize("with_label, width", [(False, 400), (True, 800)])
def test_save_overlay_png(tmp_path, with_label, width):
    image = np.linspace(0, 1, 64).reshape(8, 8)
    pred = np.zeros((8, 8), dtype=np.int64)
    pred[2:5, 2:6] = 3
    label = np.zeros((8, 8), dtype=np.uint8)
    label[3:6, 1:4] = 1
    path = tmp_path / "sub" / "dir" / "case_overlay.png"  # folders are created
    out = save_overlay_png(str(path), image, pred, label if with_label else None, title="case")
    assert out == str(path)
    png = read_png(path)
    assert png.shape[:2] == (400, width)  # 4 inches per panel at 100 dpi
    assert png.shape[2] in (3, 4)
    rgb = png[..., :3]
    assert rgb.std() > 0.01  # not a blank image
    # the overlay has coloured (non-grey) pixels
    assert np.abs(rgb[..., 0] - rgb[..., 2]).max() > 0.1


# ----------------------------------------------------------------------------------------------------------------------
# OverlayPNGSaver
# ----------------------------------------------------------------------------------------------------------------------
C, D, H, W = 4, 3, 8, 8


def one_hot(classes: np.ndarray) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.as_tensor(classes), C).permute(3, 0, 1, 2).float()


def make_case(seed: int, fg_index: int, slice_axis: int):
    """An item (pred, label one-hot) and a batch entry (image_native, name); the label is densest at fg_index."""
    rng = np.random.default_rng(seed)
    label = np.zeros((D, H, W), dtype=np.int64)
    index = [slice(None)] * 3
    index[slice_axis] = fg_index
    label[tuple(index)] = 2
    label[0, 0, 0] = 1  # a little elsewhere
    pred = rng.integers(0, C, size=(D, H, W))
    image = torch.from_numpy(rng.uniform(size=(1, D, H, W)).astype(np.float32))
    return {"pred": one_hot(pred), "label": one_hot(label)}, {"image_native": image, "name": f"case{seed}"}, pred, label


def run_saver(saver, iterations):
    """iterations: list of (outputs, batch) pairs, one per engine iteration."""
    it = iter(iterations)

    def step(engine, batch):
        return next(it)[0]

    engine = Engine(step)
    saver.attach(engine)
    engine.run([b for _, b in iterations], max_epochs=1)
    return engine


@pytest.mark.parametrize("slice_axis, fg_index", [(0, 1), (2, 5)])
def test_overlay_saver_writes_one_png_per_item(tmp_path, monkeypatch, slice_axis, fg_index):
    calls = []
    real = overlay_module.save_overlay_png

    def spy(path, image, pred, label=None, title="", class_names=None):
        calls.append((path, image, pred, label, title))
        assert class_names is None  # not given to the saver
        return real(path, image, pred, label, title, class_names)

    monkeypatch.setattr(overlay_module, "save_overlay_png", spy)
    cases = [make_case(s, fg_index, slice_axis) for s in (1, 2)]
    saver = OverlayPNGSaver(str(tmp_path), slice_axis=slice_axis, image_key="image_native")
    run_saver(saver, [([c[0] for c in cases], [c[1] for c in cases])])

    assert sorted(p.name for p in tmp_path.iterdir()) == ["case1_overlay.png", "case2_overlay.png"]
    assert saver.saved == [str(tmp_path / "case1_overlay.png"), str(tmp_path / "case2_overlay.png")]
    for (item, data, pred, label), (path, image, pred2d, label2d, title) in zip(cases, calls):
        with open(path, "rb") as f:
            assert f.read(8) == PNG_SIGNATURE
        take = lambda a: np.take(a, fg_index, axis=slice_axis)  # noqa: E731
        assert image.shape == pred2d.shape == label2d.shape
        np.testing.assert_array_equal(image, take(data["image_native"].numpy()[0]))
        np.testing.assert_array_equal(pred2d, take(pred))  # one-hot argmax-ed back to classes
        np.testing.assert_array_equal(label2d, take(label))
        assert (label2d == 2).sum() >= label2d.size - 1  # the densest slice was chosen
        assert title == f"{data['name']} slice {fg_index}"


@pytest.mark.parametrize("max_cases, iterations, expected", [(1, 1, 1), (3, 2, 3), (None, 2, 4), (0, 1, 0)])
def test_overlay_saver_honours_max_cases(tmp_path, max_cases, iterations, expected):
    its = []
    for i in range(iterations):
        cases = [make_case(10 * i + j, 1, 0) for j in range(2)]
        its.append(([c[0] for c in cases], [c[1] for c in cases]))
    saver = OverlayPNGSaver(str(tmp_path), slice_axis=0, image_key="image_native", max_cases=max_cases)
    run_saver(saver, its)
    names = ["case0", "case1", "case10", "case11"][:expected]
    assert saver.saved == [str(tmp_path / f"{n}_overlay.png") for n in names]  # in processing order
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(f"{n}_overlay.png" for n in names)


def _meta_image(seed: int, filename: str):
    from monai.data import MetaTensor

    rng = np.random.default_rng(seed)
    return MetaTensor(rng.uniform(size=(1, D, H, W)).astype(np.float32), meta={"filename_or_obj": filename})


def test_overlay_saver_name_falls_back_to_the_image_file_name_in_the_output(tmp_path):
    item, _, _, _ = make_case(3, 1, 0)
    item["image"] = _meta_image(3, "/data/patient101_frame01.h5")
    saver = OverlayPNGSaver(str(tmp_path), slice_axis=0)
    run_saver(saver, [([item], [{"other": 1}])])
    assert saver.saved == [str(tmp_path / "patient101_frame01_overlay.png")]
    assert (tmp_path / "patient101_frame01_overlay.png").is_file()


def test_overlay_saver_name_falls_back_to_the_image_file_name_in_the_batch(tmp_path):
    item, _, _, _ = make_case(4, 1, 0)
    batch = {"image_native": _meta_image(4, "/data/patient102_frame02.nii.gz")}  # no "name"
    saver = OverlayPNGSaver(str(tmp_path), slice_axis=0, image_key="image_native")
    run_saver(saver, [([item], [batch])])
    assert saver.saved == [str(tmp_path / "patient102_frame02_overlay.png")]


@pytest.mark.parametrize("pred_max, label_max, names, expected", [
    (3, 3, ["RV", "MYO", "LV"], ["RV", "MYO", "LV"]),
    (0, 0, ["RV", "MYO", "LV"], ["RV", "MYO", "LV"]),  # an empty prediction still names every class
    (2, 4, ["RV", "MYO"], ["RV", "MYO", "class 3", "class 4"]),  # classes beyond the names
    (1, 2, None, ["class 1", "class 2"]),
    (0, 0, None, []),  # nothing to name: no legend
])
def test_overlay_legend_names_every_class(pred_max, label_max, names, expected):
    from metassl_monai.visualize import legend_names

    assert legend_names(np.array([[0, pred_max]]), np.array([[label_max, 0]]), names) == expected
