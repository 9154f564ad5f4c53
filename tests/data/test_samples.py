"""Which images a check runs on: evenly spaced picks, a dataset root's val/ split, drawn scenes."""

from __future__ import annotations

import numpy as np

from alexnet_deploy.artifacts.onnx_meta import ModelMeta
from alexnet_deploy.data.samples import evenly_spaced, image_batch
from tests.builders import make_tree

META = ModelMeta(arch="paper", class_names=("a", "b"), input_size=32, resize=36, mean=(0.5, 0.5, 0.5),
                 std=(0.25, 0.25, 0.25))


def test_evenly_spaced_is_deterministic_distinct_and_spread():
    picks = evenly_spaced(1000, 10)
    assert picks == evenly_spaced(1000, 10) == sorted(set(picks))
    assert picks[0] == 0 and picks[-1] >= 900
    assert evenly_spaced(5, 10) == [0, 1, 2, 3, 4]


def test_a_dataset_root_stands_for_its_val_split(tmp_path):
    root = make_tree(tmp_path / "data", classes=2, train=3, val=2, size=40)
    from_root, source = image_batch(META, data_dir=root, count=10)
    from_val, _ = image_batch(META, data_dir=root / "val", count=10)
    assert from_root.shape == (4, 3, 32, 32) and source.endswith("val")
    np.testing.assert_array_equal(from_root, from_val)


def test_drawn_images_are_scenes_that_differ_and_repeat():
    first, source = image_batch(META, data_dir=None, count=3)
    again, _ = image_batch(META, data_dir=None, count=3)
    assert source == "drawn images" and first.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first[0], first[1])
