"""Presets per precision and the [PRECISION=]VALUE overrides of the CLI."""

from __future__ import annotations

import pytest

from alexnet_deploy.errors import InputError
from alexnet_deploy.verify.presets import PRESETS, parse_override, preset_for, presets_with


def test_defaults_are_the_documented_limits():
    assert (PRESETS["fp32"].rel_tol, PRESETS["fp32"].min_agreement, PRESETS["fp32"].max_drop) == (1e-4, 100.0, None)
    assert (PRESETS["fp16"].rel_tol, PRESETS["fp16"].min_agreement, PRESETS["fp16"].max_drop) == (None, 99.5, 0.3)
    assert (PRESETS["int8"].rel_tol, PRESETS["int8"].min_agreement, PRESETS["int8"].max_drop) == (None, None, 1.0)
    assert "agreement >= 99.5 %" in PRESETS["fp16"].describe()


def test_overrides_apply_to_one_precision_or_all_and_off_drops_a_check():
    presets = presets_with([("max-drop", "2"), ("max-drop", "int8=0.5"), ("min-agreement", "fp32=off")])
    assert presets["fp16"].max_drop == 2 and presets["fp32"].max_drop == 2 and presets["int8"].max_drop == 0.5
    assert presets["fp32"].min_agreement is None and presets["fp16"].min_agreement == 99.5
    assert PRESETS["int8"].max_drop == 1.0  # the defaults are untouched
    assert preset_for("unknown", presets) == presets["fp32"]


@pytest.mark.parametrize("option, text, message", [
    ("max-drop", "int4=1", "not a precision"),
    ("max-drop", "int8=lots", "not a number"),
    ("rel-tol", "-1", "must not be negative"),
    ("min-agreement", "120", "at most 100"),
    ("speed", "1", "Unknown limit"),
])
def test_bad_overrides_are_user_errors(option, text, message):
    with pytest.raises(InputError, match=message):
        parse_override(option, text)
