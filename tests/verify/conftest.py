"""A small verify setup shared by the verify tests: a 10-class paper AlexNet at 67 px, its exports, labelled images.

The paper arch at 67 px exports in a few seconds; its INT8 model calibrates on
32 drawn scenes. An untrained net scores chance on any labels, so the labelled
split is labelled by the reference itself: the last layer is rescaled so every
class wins on some scenes, and for each class the ten scenes it wins by the
widest margin go into its folder (reference top-1 100 %). A broken model's
disagreements then show up as a top-1 drop, while honest INT8 rounding does not
flip such clear calls.
"""

from __future__ import annotations

import pytest

CLASSES = [f"c{i}" for i in range(10)]


@pytest.fixture(scope="session")
def verify_setup(tmp_path_factory):
    import torch

    from alexnet_deploy.artifacts.checkpoint import make_checkpoint, save_checkpoint
    from alexnet_deploy.export.exporter import export_onnx
    from alexnet_deploy.model import zoo
    from alexnet_deploy.precision.quantize import QuantizeConfig, build_int8
    from tests.builders import he_init, write_scenes

    root = tmp_path_factory.mktemp("verify")
    torch.manual_seed(0)
    model = he_init(zoo.build("paper", num_classes=len(CLASSES))).eval()
    data = labelled_by_reference(model, root / "data", per_class=10)
    checkpoint = root / "alexnet.pt"
    save_checkpoint(checkpoint, make_checkpoint(model, arch="paper", class_names=CLASSES, input_size=67, resize=67))
    fp32 = root / "alexnet.onnx"
    assert export_onnx(checkpoint, fp32)
    write_scenes(root / "calib", 32)
    int8 = root / "alexnet.int8.onnx"
    assert build_int8(fp32, root / "calib", int8, config=QuantizeConfig(min_images=8), cache_dir=root / "cache")
    return {"root": root, "checkpoint": checkpoint, "fp32": fp32, "int8": int8, "data": data}


def labelled_by_reference(model, root, *, per_class: int):
    """Rescale ``model``'s last layer to standardised logits, then file ``root/val/<class>/NN.png`` by its calls."""
    import shutil

    import torch

    from alexnet_deploy.data.images import preprocess_files
    from tests.builders import write_scenes

    scenes = write_scenes(root / "unsorted", 400, first=100, seed=11)
    x = torch.from_numpy(preprocess_files(scenes, input_size=67, resize=67, mean=(0.485, 0.456, 0.406),
                                          std=(0.229, 0.224, 0.225)))
    with torch.no_grad():
        logits = model(x)
        mean, std = logits.mean(0), logits.std(0)
        last = model.classifier[-1]
        last.weight /= std[:, None]
        last.bias.copy_((last.bias - mean) / std)
        logits = model(x)
    top2 = logits.topk(2, dim=1)
    margin = (top2.values[:, 0] - top2.values[:, 1]).tolist()
    for label, name in enumerate(CLASSES):
        won = sorted((i for i in range(len(scenes)) if top2.indices[i, 0] == label), key=lambda i: -margin[i])
        assert len(won) >= per_class, f"class {name} wins only {len(won)} scenes"
        folder = root / "val" / name
        folder.mkdir(parents=True)
        for i in won[:per_class]:
            scenes[i].rename(folder / scenes[i].name)
    shutil.rmtree(root / "unsorted")
    return root
