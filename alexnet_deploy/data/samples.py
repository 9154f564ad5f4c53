"""Which images a check runs on: an evenly spaced pick from a folder, or drawn ones when none is given."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from alexnet_deploy.core.outputs import naming_refused_writes
from alexnet_deploy.core.tempfiles import scratch_dir
from alexnet_deploy.data.images import list_images, preprocess_files

# Drawn check images come from the built-in dataset's generator, at indices no generated tree uses.
DRAWN_SEED, DRAWN_FIRST_INDEX = 0, 1_000_000


class Geometry(Protocol):
    """What preprocessing needs; a Checkpoint and a ModelMeta both have it."""

    input_size: int
    resize: int
    mean: Sequence[float]
    std: Sequence[float]


def evenly_spaced(total: int, wanted: int) -> list[int]:
    """``wanted`` distinct indices spread evenly over ``range(total)`` (all when ``wanted >= total``).

    Every subset of sorted files or samples (check images, calibration sets,
    evaluation limits) is picked this way, so the same folder gives the same picks.
    """
    if wanted >= total:
        return list(range(total))
    return [i * total // wanted for i in range(wanted)]


def image_batch(geometry: Geometry, *, data_dir: str | os.PathLike | None, count: int) -> tuple[np.ndarray, str]:
    """``count`` preprocessed images and where they came from: spread over ``data_dir``, else drawn.

    A dataset root stands for its ``val/`` split. Drawn images are scenes of the
    built-in dataset written as PNG files and read back through the same
    preprocessing as real data, so the check covers the whole input path.
    """
    prep = dict(input_size=geometry.input_size, mean=geometry.mean, std=geometry.std, resize=geometry.resize)
    if data_dir is not None:
        from alexnet_deploy.data.labelled import split_folder

        folder = split_folder(data_dir)
        files = list_images(folder)
        # Spread the picks so a class-per-folder tree contributes several classes.
        picks = [files[i] for i in evenly_spaced(len(files), count)]
        return preprocess_files(picks, **prep), f"images from {folder}"
    from alexnet_deploy.data import synth

    with scratch_dir("check") as tmp, naming_refused_writes(f"the drawn check images in {tempfile.gettempdir()}"):
        files = []
        for i in range(count):
            path = Path(tmp) / f"drawn_{i:03d}.png"
            pixels = synth.render_image(DRAWN_SEED, "val", i % len(synth.CLASS_NAMES), DRAWN_FIRST_INDEX + i)
            synth.save_png(pixels, path)
            files.append(path)
        return preprocess_files(files, **prep), "drawn images"
