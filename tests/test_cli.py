import subprocess
import sys

from click.testing import CliRunner

from alexnet_deploy import __version__
from alexnet_deploy.cli import main


def test_help_lists_commands_with_short_flag():
    result = CliRunner().invoke(main, ["-h"])
    assert result.exit_code == 0
    for command in ("env", "info", "models"):
        assert command in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_env_reports_components():
    result = CliRunner().invoke(main, ["env"])
    assert result.exit_code == 0, result.output
    for key in ("python", "torch", "onnx", "onnxruntime", "CPUExecutionProvider", "tensorrt", "cuda device"):
        assert key in result.output
    assert "not installed" in result.output  # TensorRT cannot be installed on the CPU machines
    assert "no GPU" in result.output


def test_models_table_has_counts_and_macs():
    result = CliRunner().invoke(main, ["models", "--arch", "paper"])
    assert result.exit_code == 0, result.output
    assert "60,965,224" in result.output
    assert "LocalResponseNorm" in result.output
    assert "96x55x55" in result.output
    # conv1: 96 filters of 3x11x11 over 55x55 outputs.
    assert f"{96 * 55 * 55 * 3 * 11 * 11:,}" in result.output


def test_unknown_arch_is_a_user_error():
    result = CliRunner().invoke(main, ["models", "--arch", "vgg"])
    assert result.exit_code == 2
    assert "Unknown arch 'vgg'" in result.output and "Traceback" not in result.output


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "alexnet_deploy", "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and __version__ in result.stdout


def test_user_error_goes_to_stderr_with_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "alexnet_deploy", "info", "no/such/file.pt"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == "Error: Checkpoint no/such/file.pt does not exist; check the path."
