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


def test_env_reports_components_and_every_backend():
    from alexnet_deploy.runtimes.registry import available

    result = CliRunner().invoke(main, ["env"])
    assert result.exit_code == 0, result.output
    for key in ("python", "torch", "onnx", "onnxruntime", "CPUExecutionProvider", "tensorrt", "cuda device"):
        assert key in result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.startswith("  ")}
    for name, state in available().items():
        assert lines[name].split()[1] == ("ok" if state.ok else "unavailable:"), lines[name]
        assert state.ok or state.install in lines[name]


def test_importing_the_cli_loads_no_heavy_package():
    """`--help` and the parser must stay fast: torch, numpy, onnx and rich load inside the commands."""
    code = "import sys, alexnet_deploy.cli; print(sorted({'torch', 'numpy', 'onnx', 'onnxruntime', 'rich'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_copied_choice_lists_equal_their_registries():
    from alexnet_deploy.commands import quantize as quantize_commands
    from alexnet_deploy.commands import train as train_commands
    from alexnet_deploy.core.device import DEVICES
    from alexnet_deploy.model.zoo import ARCHS
    from alexnet_deploy.precision.calibration import METHODS
    from alexnet_deploy.train.recipes import RECIPES

    assert train_commands.ARCH_CHOICES == tuple(ARCHS)
    assert train_commands.RECIPE_CHOICES == tuple(RECIPES)
    assert train_commands.DEVICE_CHOICES == DEVICES
    assert quantize_commands.METHOD_CHOICES == tuple(METHODS)


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
