"""A model handed to onnxruntime's quantization as links inside our scratch folder, so its side files land there."""

from __future__ import annotations

import shutil
from pathlib import Path


def model_view(model_path: str | Path, folder: Path) -> Path:
    """The model (and its external data) as links inside ``folder``, to hand to onnxruntime's quantization.

    onnxruntime writes a shape-inferred copy beside the model it is given
    (``<name>-inferred.onnx``) and deletes it afterwards; an interruption or a
    full disk in between would leave that copy beside the user's model. Given a
    view inside our scratch folder, the copy lands there and goes with it.
    """
    from alexnet_deploy.artifacts.onnx_meta import check_external_data_paths

    source = Path(model_path)
    home = source.resolve().parent
    links = [(source.resolve(), folder / "model.onnx")]
    links += [(data, folder / data.relative_to(home)) for data in check_external_data_paths(source)]
    for target, link in links:
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(target)
        except OSError:  # a filesystem without symlinks
            shutil.copyfile(target, link)
    return links[0][1]
