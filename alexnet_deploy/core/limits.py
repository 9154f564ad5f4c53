"""Upper bounds on sizes and counts a user can ask for, in one place (and in the README).

Without them a typo (``--input-size 67000``, ``--num-classes 10000000``) ends
in a MemoryError traceback minutes later, or a synthetic dataset that fills
the disk. Each bound is far above any AlexNet use; the CLI options check them
while parsing, before any work starts. Kept free of heavy imports: the CLI's
option declarations read them.
"""

from __future__ import annotations

MAX_CLASSES = 32_768  # ImageNet-21k has 21,841; a 4096x32768 head is 0.5 GB of fp32 weights
MAX_INPUT_SIZE = 1024  # the crop the network sees, in pixels (AlexNet's native input is 224/227)
MAX_RESIZE = 4096  # the shorter side before the crop
MAX_PER_CLASS = 100_000  # synthetic images per class and split (about 15 GB per 1,000 classes' worth)
MAX_CHECK_IMAGES = 100_000  # images a check, a calibration or an evaluation may be limited to
MAX_DRAWN_IMAGES = 4_096  # drawn check images (without --data they are rendered in memory)
MAX_BATCH_SIZE = 65_536
MAX_WORKERS = 256
MAX_EPOCHS = 100_000
# Images over this many pixels are refused (naming the file) rather than decoded: Pillow's own
# decompression-bomb threshold (Image.MAX_IMAGE_PIXELS), a 1-bit PNG of a few MB can claim 15000x15000.
MAX_IMAGE_PIXELS = 89_478_485
