# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
:class:`metassl_monai.lazy_floats.LazyFloats`, what the trainer's ``loss_terms`` and ``ssl_stats`` are: the floats of
``tensor.item()`` bit for bit, read as a dict by every consumer, converted only on the first read (one device-to-host
copy per device and dtype), pickled as a plain dict of floats, and clear errors naming the key.
"""

from __future__ import annotations

import copy
import io
import json
import pickle

import pytest
import torch

from metassl_monai.lazy_floats import LazyFloats


@pytest.fixture
def conversions(monkeypatch) -> dict[str, int]:
    """Counts every tensor -> Python conversion (``item``, ``tolist``, ``float(t)``, ``int(t)``, ``bool(t)``)."""
    counts = {name: 0 for name in ("item", "tolist", "__float__", "__int__", "__bool__")}
    for name in counts:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return counts


VALUES = [
    torch.tensor(0.1),  # float32: not representable, the float is the float32's value
    torch.tensor([1.0 / 3.0]),  # a one-element vector
    torch.tensor(2.0 / 3.0, dtype=torch.float16),
    torch.tensor(1.1, dtype=torch.bfloat16),
    torch.tensor(1.0 / 7.0, dtype=torch.float64),
    torch.tensor(7, dtype=torch.int64),
    torch.tensor(True),
    torch.tensor(5.5, requires_grad=True) * 2.0,  # with a graph: detached
]


@pytest.mark.parametrize("tensor", VALUES, ids=lambda t: str(t.dtype))
def test_values_are_the_floats_of_item_bit_for_bit(tensor):
    expected = float(tensor.detach().item())
    lazy = LazyFloats({"x": tensor, "number": 0.25, "int": 3, "callable": lambda: tensor})
    assert type(lazy["x"]) is float and lazy["x"] == expected
    assert lazy.to_dict() == {"x": expected, "number": 0.25, "int": 3.0, "callable": expected}
    assert all(type(v) is float for v in lazy.values())


def test_reads_as_a_dict_of_floats():
    lazy = LazyFloats({"loss": torch.tensor(1.5), "sup": torch.tensor(0.5), "consistency_weight": 0.1})
    other = LazyFloats({"unlabeled_0/threshold_0": torch.tensor(0.75)})
    merged = {**lazy, **other}  # the bundles' StatsHandler / TensorBoardStatsHandler output_transform
    assert merged == {"loss": 1.5, "sup": 0.5, "consistency_weight": 0.1, "unlabeled_0/threshold_0": 0.75}
    assert all(type(v) is float for v in merged.values())
    assert list(lazy) == ["loss", "sup", "consistency_weight"]  # the order given
    assert dict(lazy) == lazy.to_dict() == {"loss": 1.5, "sup": 0.5, "consistency_weight": 0.1}
    assert list(lazy.items()) == [("loss", 1.5), ("sup", 0.5), ("consistency_weight", 0.1)]
    assert lazy == {"loss": 1.5, "sup": 0.5, "consistency_weight": 0.1} and {"loss": 1.5, "sup": 0.5,
                                                                            "consistency_weight": 0.1} == lazy
    assert lazy != {"loss": 1.5} and LazyFloats() == {}
    assert LazyFloats({"a": 1.0}) == LazyFloats({"a": torch.tensor(1.0)})
    assert lazy.get("missing", -1.0) == -1.0 and lazy.get("sup") == 0.5
    with pytest.raises(KeyError):
        lazy["missing"]
    with pytest.raises(TypeError):
        lazy["loss"] = 2.0  # read-only
    assert json.loads(json.dumps(dict(lazy))) == dict(lazy)
    assert repr(lazy) == "LazyFloats({'loss': 1.5, 'sup': 0.5, 'consistency_weight': 0.1})"


def test_converts_nothing_until_a_value_is_read_then_everything_once(conversions):
    calls = []

    def deferred():
        calls.append(1)
        return torch.tensor([0.5, 1.5]).mean()

    vector = torch.tensor([0.1, 0.2, 0.3])
    lazy = LazyFloats({"a": torch.tensor(1.0), **dict(zip("bcd", vector.unbind())), "half": torch.tensor(2.0).half(),
                       "deferred": deferred, "number": 4.0})
    # what does not read a value converts nothing
    assert len(lazy) == 7 and list(lazy) == ["a", "b", "c", "d", "half", "deferred", "number"]
    assert "a" in lazy and "z" not in lazy and set(lazy.keys()) == set("abcd") | {"half", "deferred", "number"}
    assert sum(conversions.values()) == 0 and calls == [] and not lazy.converted
    # the first read converts everything: one .tolist() per dtype (float32, float16), the callable once
    f32 = [float(torch.tensor(v).item()) for v in (0.1, 0.2, 0.3)]
    assert lazy["b"] == f32[0]
    assert lazy.converted and calls == [1]
    assert conversions["tolist"] == 2 and sum(conversions.values()) == 2 + 3  # and the .item() calls of f32
    # later reads convert nothing more
    assert dict(lazy) == {"a": 1.0, "b": f32[0], "c": f32[1], "d": f32[2], "half": 2.0, "deferred": 1.0, "number": 4.0}
    assert calls == [1] and conversions["tolist"] == 2


@pytest.mark.parametrize("store", ["pickle", "deepcopy", "torch.save"])
def test_stored_as_a_plain_dict_of_floats(store):
    lazy = LazyFloats({"loss": torch.tensor(0.1), "w": 0.5, "deferred": lambda: torch.tensor(2.0)})
    expected = {"loss": float(torch.tensor(0.1).item()), "w": 0.5, "deferred": 2.0}
    if store == "pickle":
        restored = pickle.loads(pickle.dumps(lazy))
    elif store == "deepcopy":
        restored = copy.deepcopy({"terms": lazy})["terms"]
    else:
        buffer = io.BytesIO()
        torch.save({"terms": lazy}, buffer)
        buffer.seek(0)
        restored = torch.load(buffer, weights_only=True)["terms"]  # no class of this package needed to read it
    assert isinstance(restored, dict) and not isinstance(restored, LazyFloats) and restored == expected
    assert list(restored) == list(expected) and all(type(v) is float for v in restored.values())


def test_tensor_with_more_than_one_element_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="'thresholds'.*one element.*\\(3,\\)"):
        LazyFloats({"thresholds": torch.zeros(3)})


def test_a_callable_returning_a_vector_fails_at_the_read_naming_the_key():
    lazy = LazyFloats({"fractions": lambda: torch.zeros(4)})
    with pytest.raises(ValueError, match="'fractions'"):
        lazy["fractions"]


@pytest.mark.parametrize("value", ["0.5", None, [1.0]], ids=["str", "none", "list"])
def test_other_values_are_refused_naming_the_key(value):
    with pytest.raises(TypeError, match="'x'"):
        LazyFloats({"x": value})
    with pytest.raises(TypeError, match="callable of 'x'"):
        LazyFloats({"x": lambda: value})["x"]
