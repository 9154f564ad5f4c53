"""The machine record: CPU, cores, GPUs (or why none), versions, the command line."""

from __future__ import annotations

from alexnet_deploy.bench.record import _cpuinfo, command_line, machine_record, runtime_versions

CPUINFO = """processor\t: 0
model name\t: Example CPU 9000
physical id\t: 0
core id\t\t: 0

processor\t: 1
model name\t: Example CPU 9000
physical id\t: 0
core id\t\t: 0

processor\t: 2
model name\t: Example CPU 9000
physical id\t: 0
core id\t\t: 1
"""


def test_cpuinfo_gives_the_model_and_physical_cores(tmp_path):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    assert _cpuinfo(tmp_path / "cpuinfo") == ("Example CPU 9000", 2)  # 3 logical CPUs on 2 cores
    model, cores = _cpuinfo(tmp_path / "missing")
    assert model and cores is None


def test_machine_record_names_everything_a_figure_depends_on():
    record = machine_record(threads=3, load_before=[1.0, 2.0, 3.0])
    assert record["threads"] == 3 and record["load_average"]["before"] == [1.0, 2.0, 3.0]
    assert len(record["load_average"]["after"]) == 3  # Linux says
    assert {"model", "logical_cores", "physical_cores", "usable_cores", "frequency_governor"} <= set(record["cpu"])
    assert isinstance(record["gpus"], (list, str)) and record["gpus"]  # a list of GPUs, or why there is none
    versions = runtime_versions()
    assert versions == record["versions"] and {"python", "torch", "numpy", "onnxruntime"} <= set(versions)


def test_command_line_is_quoted_for_a_shell():
    assert command_line(["/opt/venv/bin/alexnet-deploy", "bench", "my model.onnx", "--batch", "1,8"]) == \
        "alexnet-deploy bench 'my model.onnx' --batch 1,8"
