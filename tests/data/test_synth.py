"""The embedded default dataset: determinism, the CLI, and that raw pixels do not give the class away."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from alexnet_deploy.data import synth

from alexnet_deploy.data import synth_tree
from alexnet_deploy.cli import main
from alexnet_deploy.data.images import scan_image_folder
from alexnet_deploy.errors import InputError


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def small(out: Path, **kw) -> synth_tree.SynthInfo:
    args = dict(classes=3, per_class=2, val_per_class=1, calib_per_class=1, progress=False)
    return synth_tree.generate(out, **{**args, **kw})


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    small(tmp_path / "a", seed=3)
    small(tmp_path / "b", seed=3)
    small(tmp_path / "c", seed=4)
    a, b, c = (tree_bytes(tmp_path / name) for name in "abc")
    assert len(a) == 3 * (2 + 1 + 1) + 1  # images plus dataset.json
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a if k.endswith(".png"))


def test_bytes_do_not_depend_on_worker_count(tmp_path):
    # 12 classes x 6 images: enough for the process pool to be used.
    kw = dict(classes=12, per_class=4, val_per_class=1, calib_per_class=1)
    small(tmp_path / "one", workers=1, **kw)
    small(tmp_path / "two", workers=2, **kw)
    assert tree_bytes(tmp_path / "one") == tree_bytes(tmp_path / "two")


def test_tree_layout_and_dataset_json(tmp_path):
    info = small(tmp_path / "d", seed=7)
    root = tmp_path / "d"
    for split, n in (("train", 2), ("val", 1), ("calib", 1)):
        classes, samples = scan_image_folder(root / split)
        assert classes == sorted(synth.CLASS_NAMES[:3])
        assert len(samples) == 3 * n
    img = Image.open(root / "train" / "circle" / "circle_00000.png")
    assert img.mode == "RGB" and img.size == (256, 256)
    stored = json.loads((root / "dataset.json").read_text())
    assert synth_tree.SynthInfo.from_dict(stored) == info
    assert stored["counts"] == {"train": 2, "val": 1, "calib": 1} and stored["seed"] == 7
    assert stored["total"] == 12 and stored["generator_version"] == synth.GENERATOR_VERSION
    assert synth_tree.read_info(root) == info
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind


def test_a_failed_run_leaves_no_partial_tree_and_keeps_the_old_one(tmp_path, monkeypatch):
    out = tmp_path / "d"
    small(out, seed=1)
    before = tree_bytes(out)
    real = synth.render_image
    calls = []

    def failing(*args, **kw):  # a fault part-way through, as a full disk or Ctrl-C would cause
        calls.append(args)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(synth, "render_image", failing)
    with pytest.raises(KeyboardInterrupt):
        small(out, seed=2, force=True, workers=1)
    with pytest.raises(KeyboardInterrupt):
        calls.clear()
        small(tmp_path / "new", workers=1)
    assert tree_bytes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_an_empty_split_gets_no_folder(tmp_path):
    info = small(tmp_path / "d", classes=12, val_per_class=0, calib_per_class=0)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["dataset.json", "train"]
    assert scan_image_folder(tmp_path / "d" / "train")[0] == sorted(synth.CLASS_NAMES)
    assert info.total == 24


def test_default_counts_meet_the_calibration_and_accuracy_needs():
    assert synth_tree.default_calib_per_class(10) * 10 >= 512
    assert synth_tree.default_calib_per_class(12) * 12 >= 512
    assert len(synth.CLASS_NAMES) >= 10 and len(set(synth.CLASS_NAMES)) == len(synth.CLASS_NAMES)


def test_png_encoder_round_trips_through_pillow():
    arr = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    decoded = Image.open(io.BytesIO(synth.encode_png(arr)))
    assert decoded.mode == "RGB" and decoded.size == (7, 5)
    np.testing.assert_array_equal(np.asarray(decoded), arr)


@pytest.mark.parametrize("name", synth.CLASS_NAMES)
def test_every_class_renders_a_visible_object(name):
    img = synth.render(name, np.random.default_rng(1), size=128)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    assert img.std() > 20  # not a blank frame


def test_generate_refuses_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="--classes"):
        small(tmp_path / "x", classes=1)
    with pytest.raises(InputError, match="--classes"):
        small(tmp_path / "x", classes=len(synth.CLASS_NAMES) + 1)
    assert not (tmp_path / "x").exists()


def test_cli_writes_refuses_non_empty_and_replaces_with_force(tmp_path):
    out = tmp_path / "synth"
    args = ["data", "synth", "--out", str(out), "--classes", "2", "--train-per-class", "1", "--val-per-class", "1",
            "--calib-per-class", "1", "--no-progress"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Wrote 6 images" in result.output
    first = tree_bytes(out)

    (out / "keep.txt").write_text("user file")
    result = CliRunner().invoke(main, args + ["--seed", "1"])
    assert result.exit_code == 2
    assert "is not empty" in result.output and "--force" in result.output
    assert "Traceback" not in result.output
    assert (out / "keep.txt").exists() and tree_bytes(out).keys() == first.keys() | {"keep.txt"}

    result = CliRunner().invoke(main, args + ["--seed", "1", "--force"])
    assert result.exit_code == 0, result.output
    assert not (out / "keep.txt").exists()
    assert json.loads((out / "dataset.json").read_text())["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]


@pytest.mark.parametrize("classes", ["1", "13", "ten"])
def test_cli_rejects_bad_class_count(tmp_path, classes):
    result = CliRunner().invoke(main, ["data", "synth", "--out", str(tmp_path / "o"), "--classes", classes])
    assert result.exit_code == 2
    assert "--classes" in result.output
    assert not (tmp_path / "o").exists()


def test_force_replaces_only_an_earlier_generated_tree(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    result = CliRunner().invoke(main, ["data", "synth", "--out", str(tmp_path / "mine"), "--force",
                                       "--train-per-class", "1"])
    assert result.exit_code == 2 and "holds no dataset.json" in result.output
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_cli_help_lists_the_classes():
    from alexnet_deploy.commands.data import CLASS_LIST

    assert CLASS_LIST == ", ".join(synth.CLASS_NAMES)
    result = CliRunner().invoke(main, ["data", "synth", "--help"])
    assert result.exit_code == 0 and "--train-per-class" in result.output and "--force / --no-force" in result.output


def test_cli_refuses_a_file_as_output(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    result = CliRunner().invoke(main, ["data", "synth", "--out", str(target), "--train-per-class", "1"])
    assert result.exit_code == 2 and "not a folder" in result.output
    assert target.read_text() == "x"


# --- a linear model on raw pixels should not solve the task ---------------------------------------


def softmax_regression(x_train, y_train, x_val, y_val, *, classes, l2=1e-3, steps=300, lr=0.05):
    """Standardised features, full-batch gradient descent with momentum; returns (train acc, val acc).

    The matrix products run in torch on one thread: multi-threaded BLAS on a busy
    2-core machine spends more time waiting than computing at these sizes.
    """
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_val = (torch.from_numpy((x - mu) / sd) for x in (x_train, x_val))
    y_train, y_val = torch.from_numpy(y_train), torch.from_numpy(y_val)
    w = torch.zeros(x_train.shape[1], classes)
    b = torch.zeros(classes)
    vw, vb = torch.zeros_like(w), torch.zeros_like(b)
    onehot = torch.nn.functional.one_hot(y_train, classes).float()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            g = (torch.softmax(x_train @ w + b, dim=1) - onehot) / len(x_train)
            vw = 0.9 * vw - lr * (x_train.T @ g + l2 * w)
            vb = 0.9 * vb - lr * g.sum(0)
            w, b = w + vw, b + vb
        acc = lambda x, y: float(((x @ w + b).argmax(1) == y).float().mean())  # noqa: E731
        return acc(x_train, y_train), acc(x_val, y_val)
    finally:
        torch.set_num_threads(threads)


def pixels(img: np.ndarray, size: int = 32) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR), np.float32).ravel() / 255.0


def rendered_split(split: str, per_class: int, classes: int = synth.DEFAULT_CLASSES):
    x = [pixels(synth.render_image(0, split, c, i)) for c in range(classes) for i in range(per_class)]
    return np.stack(x), np.repeat(np.arange(classes), per_class)


@pytest.mark.slow
def test_raw_pixel_softmax_regression_stays_under_half():
    # 300 train / 150 val images, chance 10%; `python tests/data/test_synth.py data/synth` scores the full tree.
    x_train, y_train = rendered_split("train", 30)
    x_val, y_val = rendered_split("val", 15)
    train_acc, val_acc = softmax_regression(x_train, y_train, x_val, y_val, classes=synth.DEFAULT_CLASSES)
    assert train_acc > 0.9  # the model is fitted: it memorises the training set
    assert val_acc < 0.5  # but nothing it learned from raw pixels carries over


def test_the_same_regression_solves_a_colour_coded_control():
    # The probe is not broken: when colour does carry the class, it finds it.
    rng = np.random.default_rng(0)
    palette = rng.uniform(0, 255, size=(10, 3))
    make = lambda n: np.stack([  # noqa: E731
        pixels(np.clip(palette[c] + rng.normal(0, 40, (64, 64, 3)), 0, 255).astype(np.uint8)) for c in range(10)
        for _ in range(n)])
    x_train, x_val = make(20), make(10)
    _, val_acc = softmax_regression(x_train, np.repeat(np.arange(10), 20), x_val, np.repeat(np.arange(10), 10),
                                    classes=10)
    assert val_acc > 0.9


if __name__ == "__main__":
    # The full figure: `.venv/bin/python tests/data/test_synth.py data/synth` (train/ vs val/ of a generated tree).
    from alexnet_deploy.data.images import load_rgb

    root = Path(sys.argv[1])
    split = {}
    for name in ("train", "val"):
        classes, samples = scan_image_folder(root / name)
        split[name] = (np.stack([pixels(np.asarray(load_rgb(p))) for p, _ in samples]),
                       np.array([label for _, label in samples]))
    for l2 in (1e-4, 1e-3, 1e-2, 1e-1):
        train_acc, val_acc = softmax_regression(*split["train"], *split["val"], classes=len(classes), l2=l2)
        print(f"l2={l2:g}: train {train_acc:.3f}, val {val_acc:.3f} (chance {1 / len(classes):.3f})")
