"""Every TensorRT member our code touches exists in this version, with the arity we call it with.

Run by ``tests/engine/test_conformance.py`` once per supported version, in a
process where ``import tensorrt`` is that version's real bindings. The code
that needs a GPU cannot run here, so its source is read instead: every
``trt.X.Y`` chain must resolve; every member used on a variable that holds a
TensorRT object (the names in HOLDERS, a convention of ``engine/`` and
``runtimes/trt*.py``) must exist on that class, be called with arguments one
of its pybind11 overloads accepts, and be a writable property where assigned;
every method of a subclass of a TensorRT class must override one of its
methods with the same arity.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import tensorrt as trt

REPO = Path(__file__).resolve().parents[3]
SOURCES = sorted((REPO / "alexnet_deploy" / "engine").glob("*.py")) + [
    REPO / "alexnet_deploy" / "runtimes" / "trt.py",
    REPO / "alexnet_deploy" / "runtimes" / "trt_env.py",
]
HOLDERS = {
    "builder": "Builder", "network": "INetworkDefinition", "config": "IBuilderConfig", "parser": "OnnxParser",
    "parser_error": "ParserError", "profile": "IOptimizationProfile", "runtime": "Runtime", "engine": "ICudaEngine",
    "context": "IExecutionContext", "inspector": "EngineInspector", "timing_cache": "ITimingCache",
    "disk_cache": "ITimingCache", "serialized": "IHostMemory",
}
_SIGNATURE = re.compile(r"^(?:\d+\.\s+)?(\w+)\((.*)\)\s*->")


def signatures(obj, name: str) -> list[list[tuple[str, bool]]]:
    """Each pybind11 overload of ``obj`` as [(parameter, has_default)], read from its docstring."""
    found = []
    for line in (getattr(obj, "__doc__", "") or "").splitlines():
        match = _SIGNATURE.match(line.strip())
        if match and match.group(1) == name and match.group(2) != "*args, **kwargs":
            found.append([(p.split(":")[0].split("=")[0].strip(), "=" in p) for p in _split(match.group(2)) if p])
    return found


def _split(params: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in params:
        depth += char in "([{<"
        depth -= char in ")]}>"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return parts + [current.strip()] if current.strip() else parts


def accepts(overloads, positional: int, keywords: set[str], *, drop_self: bool) -> bool:
    """Whether some overload takes ``positional`` arguments plus ``keywords``."""
    for params in overloads:
        if drop_self and params and params[0][0] == "self":
            params = params[1:]
        names = [p for p, _ in params]
        if any(p.startswith("*") for p in names):
            return True
        if positional > len(params) or not keywords <= set(names[positional:]):
            continue
        if all(has_default or name in keywords for name, has_default in params[positional:]):
            return True
    return False


def trt_chain(node: ast.AST) -> list[str] | None:
    """``trt.A.B`` -> ["A", "B"]; None for anything not rooted at the name ``trt``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return parts[::-1] if isinstance(node, ast.Name) and node.id == "trt" and parts else None


def holder_class(node: ast.AST):
    """The TensorRT class held by ``builder`` / ``self.engine`` / ``self._context`` ..., else None."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    cls = HOLDERS.get(name.lstrip("_"))
    return getattr(trt, cls) if cls else None


def call_shape(call: ast.Call) -> tuple[int, set[str]] | None:
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    return len(call.args), {k.arg for k in call.keywords}


def problems_in(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    where = lambda node: f"{path.relative_to(REPO)}:{node.lineno}"  # noqa: E731
    found = []
    for node in ast.walk(tree):
        outermost = not isinstance(parents.get(node), ast.Attribute)
        if isinstance(node, ast.Attribute) and (chain := trt_chain(node)) and outermost:
            found += _check_chain(node, chain, parents.get(node), where)
        elif isinstance(node, ast.Attribute) and (cls := holder_class(node.value)) is not None:
            found += _check_member(node, cls, parents.get(node), where)
        elif isinstance(node, ast.ClassDef):
            found += _check_subclass(node, where)
    return found


def _check_chain(node, chain, parent, where) -> list[str]:
    obj, walked = trt, "trt"
    for part in chain:
        if not hasattr(obj, part):
            return [f"{where(node)}: {walked}.{part} does not exist in TensorRT {trt.__version__}"]
        obj, walked = getattr(obj, part), f"{walked}.{part}"
    if isinstance(parent, ast.Call) and parent.func is node and (shape := call_shape(parent)):
        is_class = isinstance(obj, type)
        overloads = signatures(obj.__init__ if is_class else obj, "__init__" if is_class else chain[-1])
        if overloads and not accepts(overloads, *shape, drop_self=is_class):
            return [f"{where(node)}: {walked} called with {shape[0]} positional {sorted(shape[1])} matches no "
                    f"signature in TensorRT {trt.__version__}"]
    return []


def _check_member(node, cls, parent, where) -> list[str]:
    label = f"{cls.__name__}.{node.attr}"
    if not hasattr(cls, node.attr):
        return [f"{where(node)}: {label} does not exist in TensorRT {trt.__version__}"]
    member = getattr(cls, node.attr)
    if isinstance(node.ctx, ast.Store):
        if not (isinstance(member, property) and member.fset is not None):
            return [f"{where(node)}: {label} is not a writable property in TensorRT {trt.__version__}"]
        return []
    if isinstance(parent, ast.Call) and parent.func is node:
        if isinstance(member, property):
            return [f"{where(node)}: {label} is a property in TensorRT {trt.__version__}, not a method"]
        shape = call_shape(parent)
        overloads = signatures(member, node.attr)
        if shape and overloads and not accepts(overloads, *shape, drop_self=True):
            return [f"{where(node)}: {label} called with {shape[0]} positional {sorted(shape[1])} matches no "
                    f"signature in TensorRT {trt.__version__}"]
    return []


def _check_subclass(node: ast.ClassDef, where) -> list[str]:
    bases = [b for b in node.bases if trt_chain(b)]
    if not bases:
        return []
    base = trt
    for part in trt_chain(bases[0]):
        base = getattr(base, part, None)
    if base is None:
        return []  # the chain check reports the missing base
    found = []
    for item in node.body:
        if not isinstance(item, ast.FunctionDef) or item.name.startswith("_"):
            continue
        label = f"{node.name}.{item.name} (overriding {base.__name__}.{item.name})"
        if not hasattr(base, item.name):
            found.append(f"{where(item)}: {label}: no such method in TensorRT {trt.__version__}")
            continue
        ours = len(item.args.args) - 1
        overloads = signatures(getattr(base, item.name), item.name)
        if overloads and not accepts(overloads, ours, set(), drop_self=True):
            found.append(f"{where(item)}: {label} takes {ours} arguments; TensorRT {trt.__version__} passes another "
                         f"number")
    return found


def test_runs_against_the_expected_bindings():
    assert trt.__version__ == os.environ["EXPECTED_TENSORRT_VERSION"]


def test_every_tensorrt_member_used_exists_with_our_arity():
    problems = [p for path in SOURCES for p in problems_in(path)]
    assert not problems, "\n".join(problems)


def test_the_scan_sees_the_tensorrt_calls():
    """The scan must not pass by looking at nothing: it finds the calls the build and the runner make."""
    text = "\n".join(path.read_text() for path in SOURCES)
    for used in ("builder.build_serialized_network(", "config.set_memory_pool_limit(", "parser.parse_from_file(",
                 "profile.set_shape(", "context.execute_async_v3(", "context.set_input_shape(",
                 "inspector.get_engine_information(", "trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED"):
        assert used in text


def test_the_scan_catches_what_this_version_lacks(tmp_path):
    """Members removed in 11 are flagged on 11 and accepted on 10; a wrong arity is flagged everywhere."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f(trt, config, builder, engine):\n"
                     "    config.set_flag(trt.BuilderFlag.FP16)\n"
                     "    builder.platform_has_fast_int8\n"
                     "    engine.device_memory_size\n"
                     "    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE)\n"
                     "    config.builder_optimization_level = 3\n"
                     "    engine.num_io_tensors = 2\n")
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        problems = problems_in(probe)
    finally:
        REPO = saved
    removed_in_11 = [p for p in problems if "FP16" in p or "platform_has_fast_int8" in p or "device_memory_size" in p]
    assert len(removed_in_11) == (3 if trt.__version__.startswith("11.") else 0), problems
    assert any("set_memory_pool_limit called with 1 positional" in p for p in problems), problems
    assert any("num_io_tensors is not a writable property" in p for p in problems), problems
    assert not any("builder_optimization_level" in p for p in problems), problems
