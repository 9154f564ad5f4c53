"""What a person reads: the table, bench.md and PNG plots that open."""

from __future__ import annotations

import copy

import pytest
from PIL import Image
from rich.console import Console

from alexnet_deploy.bench.config import BenchConfig
from alexnet_deploy.bench.markdown import markdown, write_report
from alexnet_deploy.bench.plan import make_plan
from alexnet_deploy.bench.plots import PLOTS
from alexnet_deploy.bench.session import run_plan
from alexnet_deploy.bench.table import notes, rich_offline, rich_table, table_rows
from tests.builders import slowed_model, tiny_model

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    tiny = tiny_model(root / "tiny.onnx")
    slow = slowed_model(tiny, root / "slow.onnx", convs=8)
    config = BenchConfig(scenario="offline", batches=(1, 2), batches_given=True, warmup_s=0.02, duration_s=0.05,
                         min_iterations=70, threads=1, percentiles=(50, 90, 99.9))
    plan = make_plan([str(tiny), str(slow)], config=config, backends=["ort-cpu"])
    plan.skipped.append("ort-cuda: no GPU here (install: pip install 'alexnet-deploy[gpu]')")
    return run_plan(plan, config)


def test_table_has_a_row_per_run_and_the_requested_percentiles(result):
    headers, cells = table_rows(result)
    assert headers[:4] == ["backend", "precision", "model", "batch"]
    assert ["p50 ms", "p90 ms", "p99.9 ms"] == [h for h in headers if h.endswith(" ms")]
    assert len(cells) == 4 and cells[0][:4] == ["ort-cpu", "fp32", "tiny.onnx", "1"]
    assert cells[0][headers.index("n")] == str(result.rows[0].stats.count)
    console = Console(record=True, width=200)
    console.print(rich_table(result))
    console.print(rich_offline(result))
    text = console.export_text()
    assert "slow.onnx" in text and "best throughput" in text


def test_notes_state_the_query_count_behind_p90_and_keep_install_lines(result):
    lines = notes(result)
    assert not any(line.startswith("p90 bounds") for line in lines)  # offline: throughput is the figure
    single = copy.deepcopy(result)
    single.config["scenario"] = "single-stream"
    statement = next(line for line in notes(single) if line.startswith("p90 bounds"))
    assert "at least 64 needed" in statement
    for row in result.rows:  # every row bounded (70 queries each), named with its model where labels repeat
        assert f"{row.label()} ({row.artifact.rsplit('/', 1)[-1]}) <= " in statement
    assert any(line.startswith("p99.9 rests on fewer than the 6") and "every row" in line for line in lines)
    assert "Skipped ort-cuda: no GPU here (install: pip install 'alexnet-deploy[gpu]')." in lines
    assert any(line.startswith("Energy not measured here") for line in lines)


def test_report_writes_markdown_and_plots_that_open(result, tmp_path):
    written = write_report(result, tmp_path / "report")
    assert [p.name for p in written] == ["bench.md", *PLOTS]
    for plot in written[1:]:
        data = plot.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5_000
        with Image.open(plot) as image:
            image.verify()
        with Image.open(plot) as image:
            assert image.size[0] > 400 and image.size[1] > 300
    text = written[0].read_text()
    for expected in ("| backend | precision | model | batch |", "## Offline: best throughput", "## Machine",
                     "| row | min ms | mean ms | median ms | max ms | std ms | CV | n | window s | warm-up n |",
                     "## Artifacts", "![latency_cdf](latency_cdf.png)", "pip install 'alexnet-deploy[gpu]'"):
        assert expected in text
    assert not list((tmp_path / "report").glob(".*.tmp"))  # staged files renamed into place


def test_markdown_without_plots_has_no_plot_section(result):
    assert "## Plots" not in markdown(result)


def test_spread_above_the_threshold_is_one_line_naming_the_rows():
    from alexnet_deploy.bench.energy import EnergyRecord
    from alexnet_deploy.bench.results import BenchResult, BenchRow
    from alexnet_deploy.bench.stats import summarize

    def row(latencies_ms, backend):
        seconds = [ms / 1e3 for ms in latencies_ms]
        return BenchRow(backend=backend, device="cpu", precision="fp32", batch=1, variant="", artifact="m.onnx",
                        artifact_sha256="a", source_sha256="", threads=1, options={}, runner={}, latencies_s=seconds,
                        stats=summarize(seconds), throughput=1.0, window_s=1.0, warmup_iterations=1,
                        energy=EnergyRecord.not_measured("not measured here: test"))

    steady, noisy = row([10.0] * 99 + [10.5], "ort-cpu"), row([10.0] * 90 + [30.0] * 10, "openvino")
    result = BenchResult(created="now", command="bench", config={"scenario": "offline", "cv_warn": 0.1,
                                                                 "percentiles": [50.0]},
                         machine={}, artifacts=[], rows=[steady, noisy])
    spread = [line for line in notes(result) if line.startswith("Latency spread")]
    assert len(spread) == 1 and f"openvino fp32 b1 ({noisy.stats.cv:.0%})" in spread[0]
    assert "ort-cpu" not in spread[0] and "other load on the machine" in spread[0]
    assert not any(line.startswith("The machine was busy") for line in notes(result))
    result.machine = {"cpu": {"usable_cores": 2}, "load_average": {"before": [3.5, 3.0, 2.0], "after": None}}
    assert any(line.startswith("The machine was busy: 1-minute load average 3.5 on 2 usable cores")
               for line in notes(result))
