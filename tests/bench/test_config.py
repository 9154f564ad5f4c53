"""Option values: durations, batch and percentile lists, and the config's own refusals."""

from __future__ import annotations

import pytest

from alexnet_deploy.bench.config import BenchConfig, parse_batches, parse_list, parse_percentiles, parse_seconds
from alexnet_deploy.errors import InputError


@pytest.mark.parametrize("text, seconds", [("5s", 5.0), ("500ms", 0.5), ("2.5", 2.5), ("1m", 60.0), ("0", 0.0),
                                           (" 250 MS ", 0.25), ("100us", 1e-4)])
def test_durations_take_units(text, seconds):
    assert parse_seconds(text, option="--duration") == pytest.approx(seconds)


@pytest.mark.parametrize("text, message", [("-1", "0 s or more"), ("-1s", "0 s or more"), ("soon", "duration such as"),
                                           ("5 hours", "duration such as")])
def test_bad_durations_are_refused(text, message):
    with pytest.raises(InputError, match=message):
        parse_seconds(text, option="--duration")


def test_lists_split_commas_and_repeats_and_drop_duplicates():
    assert parse_list(("ort-cpu,openvino", "torch-cpu", "ort-cpu")) == ["ort-cpu", "openvino", "torch-cpu"]
    assert parse_batches(("1,8", "32")) == (1, 8, 32)
    assert parse_percentiles(("99,50", "p90")) == (50.0, 90.0, 99.0)


@pytest.mark.parametrize("values, message", [(("0",), "not a batch size"), (("1,-8",), "not a batch size"),
                                             (("eight",), "whole numbers"), (("100000",), "largest batch")])
def test_bad_batches_are_refused(values, message):
    with pytest.raises(InputError, match=message):
        parse_batches(values)


@pytest.mark.parametrize("values", [("100",), ("0",), ("ninety",)])
def test_bad_percentiles_are_refused(values):
    with pytest.raises(InputError):
        parse_percentiles(values)


@pytest.mark.parametrize("kwargs", [{"batches": (0,)}, {"duration_s": -1.0}, {"warmup_s": -0.1},
                                    {"min_iterations": 0}, {"threads": 0}, {"scenario": "server"},
                                    {"percentiles": (100.0,)}])
def test_the_config_refuses_what_cannot_be_timed(kwargs):
    with pytest.raises(InputError):
        BenchConfig(**kwargs)
