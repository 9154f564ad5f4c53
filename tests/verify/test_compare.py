"""The parity rule on logits: tolerance relative to the largest logit, top-1 agreement, ties, non-finite values."""

from __future__ import annotations

import numpy as np

from alexnet_deploy.verify.compare import ParityResult, compare_logits


def test_compare_logits_rules():
    ref = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 0.0]])
    assert compare_logits(ref, ref + 1e-5, rel_tol=1e-4, image_source="t")
    assert not compare_logits(ref, ref + 1e-2, rel_tol=1e-4, image_source="t")
    swapped = ref.copy()
    swapped[1] = [5.0, 5.0 + 1e-5, 0.0]
    tie = compare_logits(ref, swapped, rel_tol=1e-4, image_source="t")
    assert tie and tie.top1_ties == 1 and tie.top1_agree == 1
    flipped = ref.copy()
    flipped[0] = [3.0, 2.0, 1.0]
    assert not compare_logits(ref, flipped, rel_tol=1.0, image_source="t", tie_tol=0.0)
    assert not compare_logits(ref, np.full_like(ref, np.inf), rel_tol=0.0, image_source="t")
    failing = compare_logits(ref, ref + 1e-2, rel_tol=1e-4, image_source="t")
    assert failing.failures()[0].startswith("max |logit diff| 0.01 > allowed 0.0005")
    assert ParityResult.from_json(failing.to_json()) == failing
