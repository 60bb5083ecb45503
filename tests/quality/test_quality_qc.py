# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Quality control at inference: aggregation of slice predictions and the `<name>_quality.json` files."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
from monai.data import MetaTensor

from metassl_monai.quality.qc import QualityQCSaver, aggregate_slice_quality


def test_aggregate_slice_quality_is_area_weighted():
    quality = torch.tensor([[0.9, 0.5], [0.6, 0.5], [0.1, 0.5]])
    areas = torch.tensor([[30, 0], [10, 0], [0, 0]])
    # class 1: (0.9*30 + 0.6*10) / 40 = 0.825 ; slice 3 (area 0) does not count; class 2 never predicted -> None
    assert aggregate_slice_quality(quality, areas) == [pytest.approx(0.825), None]


class ForegroundFraction(nn.Module):
    """Stand-in predictor: quality of class c = fraction of the (resized) mask that is class c, per sample."""

    def __init__(self, num_classes=3):
        super().__init__()
        self.num_classes = num_classes
        self.p = nn.Parameter(torch.zeros(()))
        self.calls = []

    def predict(self, image, mask):
        self.calls.append(tuple(image.shape))
        onehot = torch.nn.functional.one_hot(mask[:, 0].long(), self.num_classes).movedim(-1, 1).float()
        return onehot[:, 1:].flatten(2).mean(2)


def _item(depth=3):
    image = MetaTensor(torch.rand(1, 4, 4, depth), meta={"filename_or_obj": "/data/case_007.nii.gz"})
    labels = torch.zeros(4, 4, depth, dtype=torch.long)
    labels[:2, :, 0] = 1  # slice 0: 8 px of class 1 -> fraction 0.5
    labels[:1, :, 1] = 1  # slice 1: 4 px of class 1 -> fraction 0.25
    pred = torch.nn.functional.one_hot(labels, 3).movedim(-1, 0).float()  # (3, 4, 4, D)
    return {"image": image, "pred_model_space": pred}


def test_qc_saver_writes_json_next_to_the_mask(tmp_path):
    predictor = ForegroundFraction()
    saver = QualityQCSaver(predictor, str(tmp_path), slice_axis=2, class_names=["A", "B"], batch_size=2)
    path = saver.save(_item())
    assert path.endswith("case_007_quality.json")
    result = json.loads(open(path).read())
    # class A: slices weighted by area: (0.5*8 + 0.25*4) / 12 = 0.41667; class B predicted nowhere -> null
    assert result["predicted_dice_per_class"]["A"] == pytest.approx(5 / 12)
    assert result["predicted_dice_per_class"]["B"] is None
    assert result["predicted_mean_dice"] == pytest.approx(5 / 12)
    assert result["source"] == "/data/case_007.nii.gz" and "weighted" in result["aggregation"]
    assert predictor.calls == [(2, 1, 4, 4), (1, 1, 4, 4)]  # slices in batches of 2


def test_qc_saver_whole_volume_and_empty_prediction(tmp_path):
    predictor = ForegroundFraction()
    item = _item()
    item["pred_model_space"] = torch.zeros(3, 4, 4, 3)
    item["pred_model_space"][0] = 1  # all background
    result = json.loads(open(QualityQCSaver(predictor, str(tmp_path), slice_axis=2).save(item)).read())
    assert result["predicted_mean_dice"] == 0.0
    result = json.loads(open(QualityQCSaver(predictor, str(tmp_path), slice_axis=None).save(_item())).read())
    assert result["aggregation"] == "whole volume"
    assert result["predicted_dice_per_class"]["class1"] == pytest.approx(12 / 48)


def test_qc_ranking(tmp_path):
    from metassl_monai.quality.qc import qc_ranking

    true = {"p1_frame01": 0.9, "p2_frame01": 0.5, "p3_frame01": 0.2, "p4_frame01": 0.7}
    predicted = {"p1_frame01": 0.8, "p2_frame01": 0.6, "p3_frame01": 0.1, "p4_frame01": 0.65}
    (tmp_path / "q").mkdir()
    for k, v in predicted.items():
        (tmp_path / "q" / f"{k}_quality.json").write_text(json.dumps({"predicted_mean_dice": v}))
    csv_path = tmp_path / "mean_dice_raw.csv"
    csv_path.write_text("filename,class0,mean\n" + "".join(f"{k},0,{v}\n" for k, v in true.items()))
    r = qc_ranking(str(tmp_path / "q"), str(csv_path), output=str(tmp_path / "r.json"))
    assert r["n"] == 4 and r["spearman"] == pytest.approx(1.0)  # same order
    assert r["mae"] == pytest.approx((0.1 + 0.1 + 0.1 + 0.05) / 4)
    assert json.loads((tmp_path / "r.json").read_text())["n"] == 4
    (tmp_path / "q" / "p1_frame01_quality.json").write_text(json.dumps({"predicted_mean_dice": 0.5}))
    for k in ("p2_frame01", "p3_frame01", "p4_frame01"):
        (tmp_path / "q" / f"{k}_quality.json").write_text(json.dumps({"predicted_mean_dice": 0.5}))
    constant = qc_ranking(str(tmp_path / "q"), str(csv_path))
    assert constant["spearman"] is None and constant["pearson"] is None
    with pytest.raises(FileNotFoundError, match="run the inference"):
        qc_ranking(str(tmp_path), str(csv_path))
