"""Evaluation: top-1/top-5/per-class against hand computations, 10-crop averaging, corrupt files, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from alexnet_deploy.data.augment import ten_crop
from alexnet_deploy.artifacts.checkpoint import make_checkpoint, save_checkpoint
from alexnet_deploy.cli import main
from alexnet_deploy.data.images import load_rgb, preprocess_files
from alexnet_deploy.errors import DataError
from alexnet_deploy.verify.accuracy import (
    EvalResult,
    Scorer,
    crops_to_scores,
    eval_dataset,
    evaluate,
    evaluate_checkpoint,
    evaluate_runner,
)
from alexnet_deploy.model.zoo import build
from alexnet_deploy.train.recipes import reinit_kaiming
from tests.builders import make_split

CLASSES = 7  # more than 5, so top-5 differs from "always right"
SIZE, RESIZE = 67, 72


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A checkpoint of a randomly initialised paper net (He init so the logits differ) and a val split."""
    root = tmp_path_factory.mktemp("eval")
    make_split(root / "data" / "val", classes=CLASSES, per_class=1)
    torch.manual_seed(0)
    model = reinit_kaiming(build("paper", num_classes=CLASSES)).eval()
    names = [f"k{c}" for c in range(CLASSES)]
    ckpt = make_checkpoint(model, arch="paper", class_names=names, input_size=SIZE, resize=RESIZE)
    path = save_checkpoint(root / "m.pt", ckpt)
    return path, root / "data", model, ckpt


def hand_accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float, list[float]]:
    top1 = [int(np.argmax(s) == y) for s, y in zip(scores, labels)]
    top5 = [int(y in np.argsort(-s)[:5]) for s, y in zip(scores, labels)]
    per_class = [np.mean([t for t, y in zip(top1, labels) if y == c]) for c in range(CLASSES)]
    return float(np.mean(top1)), float(np.mean(top5)), per_class


def samples(data: Path):
    files = sorted((data / "val").rglob("*.png"))
    return files, np.array([int(f.parent.name[1:]) for f in files])


def test_scorer_matches_a_hand_count():
    scores = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = np.array([1, 1, 0, 2])
    scorer = Scorer(["a", "b", "c"])
    scorer.add(scores, labels)
    result = scorer.result()
    assert result.topk == 3 and result.top5 == 1.0  # fewer than 5 classes: top-k over all of them
    assert result.top1 == pytest.approx(0.25)
    assert [(r.correct, r.total) for r in result.per_class] == [(0, 1), (1, 2), (0, 1)]
    assert EvalResult.from_json(result.to_json()) == result


def test_evaluate_matches_hand_computation(tiny):
    path, data, model, ckpt = tiny
    dataset = eval_dataset(data / "val", input_size=SIZE, resize=RESIZE, mean=ckpt.mean, std=ckpt.std)
    result = evaluate(model, dataset, class_names=ckpt.class_names, batch_size=4)
    files, labels = samples(data)
    x = torch.from_numpy(preprocess_files(files, input_size=SIZE, mean=ckpt.mean, std=ckpt.std, resize=RESIZE))
    with torch.no_grad():
        logits = model(x).numpy()
    top1, top5, per_class = hand_accuracy(logits, labels)
    assert result.count == len(files) == CLASSES
    assert result.top1 == pytest.approx(top1) and result.top5 == pytest.approx(top5)
    assert [r.accuracy for r in result.per_class] == pytest.approx(per_class)
    assert 0.0 < top5 < 1.0 or top1 < top5  # the data discriminates top-1 from top-5


@pytest.mark.slow
def test_ten_crop_averages_the_softmax_of_the_ten_crops(tiny):
    path, data, model, ckpt = tiny
    dataset = eval_dataset(data / "val", input_size=SIZE, resize=RESIZE, mean=ckpt.mean, std=ckpt.std, ten_crop=True)
    result = evaluate(model, dataset, class_names=ckpt.class_names, batch_size=3)
    files, labels = samples(data)
    probs = []
    with torch.no_grad():
        for f in files:
            crops = ten_crop(load_rgb(f), input_size=SIZE, resize=RESIZE, mean=ckpt.mean, std=ckpt.std)
            logits = model(torch.from_numpy(crops)).numpy().astype(np.float64)
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs.append((e / e.sum(axis=1, keepdims=True)).mean(axis=0))
    top1, top5, per_class = hand_accuracy(np.stack(probs), labels)
    assert result.ten_crop and result.count == len(files)
    assert (result.top1, result.top5) == pytest.approx((top1, top5))
    assert [r.accuracy for r in result.per_class] == pytest.approx(per_class)


def test_crops_to_scores_is_the_mean_softmax_per_image():
    logits = torch.tensor([[1.0, 2.0], [3.0, 0.0], [0.0, 0.0], [5.0, 5.0]])
    scores = crops_to_scores(logits.numpy(), 2)
    sm = torch.softmax(logits, 1).numpy()
    np.testing.assert_allclose(scores, [(sm[0] + sm[1]) / 2, (sm[2] + sm[3]) / 2], rtol=1e-6)
    np.testing.assert_array_equal(crops_to_scores(logits.numpy(), 1), logits.numpy())


def test_every_runner_scores_through_the_same_path(tiny, tmp_path):
    """The checkpoint on torch-cpu and its ONNX export on ort-cpu give the same accuracy on the same images."""
    from alexnet_deploy.export.exporter import export_onnx
    from alexnet_deploy.runtimes.registry import open_runner

    path, data, model, ckpt = tiny
    dataset = eval_dataset(data / "val", input_size=SIZE, resize=RESIZE, mean=ckpt.mean, std=ckpt.std)
    a = evaluate(model, dataset, class_names=ckpt.class_names, batch_size=5)
    assert export_onnx(ckpt, tmp_path / "m.onnx", parity_images=2)
    with open_runner("ort-cpu", tmp_path / "m.onnx") as runner:
        b = evaluate_runner(runner, dataset, class_names=ckpt.class_names, batch_size=5)
    assert a == b


@pytest.mark.slow
def test_corrupt_eval_image_is_a_data_error_naming_the_file(tiny, tmp_path):
    path, data, model, ckpt = tiny
    split = make_split(tmp_path / "val", classes=CLASSES, per_class=1)
    bad = split / "k3" / "zz-broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(DataError, match="zz-broken.png"):
        evaluate_checkpoint(path, tmp_path, split="val", device="cpu")
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["eval", "--model", str(path), "--data", str(tmp_path), "--json", str(out)])
    assert result.exit_code == 2 and "zz-broken.png" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_eval_command_prints_the_table_and_writes_json(tiny, tmp_path):
    path, data, model, ckpt = tiny
    out = tmp_path / "reports" / "eval.json"
    result = CliRunner().invoke(main, ["eval", "--model", str(path), "--data", str(data),
                                       "--json", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "k6" in result.output and "top-1" in result.output
    loaded = EvalResult.from_json(out.read_text())
    assert not loaded.ten_crop and loaded.count == CLASSES and loaded.split == "val"
    dataset = eval_dataset(data / "val", input_size=SIZE, resize=RESIZE, mean=ckpt.mean, std=ckpt.std)
    direct = evaluate(model, dataset, class_names=ckpt.class_names)
    assert (loaded.top1, loaded.top5) == pytest.approx((direct.top1, direct.top5))
    # --data is a dataset root (its val/ split) or the folder of class folders itself: the same images.
    split = CliRunner().invoke(main, ["eval", "--model", str(path), "--data", str(data / "val"),
                                      "--json", str(tmp_path / "split.json"), "--device", "cpu"])
    assert split.exit_code == 0, split.output
    assert EvalResult.from_json((tmp_path / "split.json").read_text()) == loaded


def test_classes_that_do_not_match_the_checkpoint_are_refused(tiny, tmp_path):
    path, _, _, _ = tiny
    folder = tmp_path / "val" / "other"
    folder.mkdir(parents=True)
    Image.new("RGB", (80, 80)).save(folder / "a.png")
    with pytest.raises(DataError, match="classes"):
        evaluate_checkpoint(path, tmp_path, device="cpu")
