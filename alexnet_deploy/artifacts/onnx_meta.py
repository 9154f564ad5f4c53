"""What an exported ONNX file says about itself, and safe loading of ONNX files.

Every ONNX file this tool writes carries a ``ModelMeta`` in its
``metadata_props`` (keys prefixed ``alexnet_deploy.``, non-string values JSON
encoded), so later stages (fp16, int8, engines, verify) know the arch, class
names and preprocessing without the checkpoint.

``check_external_data_paths`` is the one gate every stage passes before it lets
onnx or onnxruntime read a model's external data: a model file is untrusted
input, and an external-data ``location`` that is absolute, climbs out with
``..`` or follows a symlink out of the model's folder would make us read any
file on the machine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from alexnet_deploy.artifacts import fields as checked
from alexnet_deploy.artifacts.onnx_checks import check_extent, check_graph
from alexnet_deploy.errors import InputError

PREFIX = "alexnet_deploy."
META_FORMAT_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")
# onnxruntime 1.31 loads IR version 13 at most, while onnx 1.23's helpers default to 14.
IR_VERSION = 10


@dataclass(frozen=True)
class ModelMeta:
    """Self-description of an exported model (see module docstring)."""

    arch: str
    class_names: tuple[str, ...]
    input_size: int
    resize: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    precision: str = "fp32"
    source_sha256: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    # Open slot for later stages (fp16's fp32-kept nodes, int8 settings, ...): str -> str.
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        # What a file claims decides how images are read: checked here, for files and for code alike.
        checked.class_names(self.class_names, outputs=None)
        checked.input_size(self.input_size)
        checked.resize(self.resize)
        checked.channel_triple(self.mean, "mean")
        checked.channel_triple(self.std, "std", positive=True)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def with_stage(self, *, precision: str, extra: dict[str, str]) -> "ModelMeta":
        """A copy for a derived model (fp16, int8): new precision, ``extra`` merged in."""
        return replace(self, precision=precision, extra={**self.extra, **{k: str(v) for k, v in extra.items()}})

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "class_names": list(self.class_names),
            "input_size": self.input_size,
            "resize": self.resize,
            "mean": list(self.mean),
            "std": list(self.std),
            "precision": self.precision,
            "source_sha256": self.source_sha256,
            "versions": dict(self.versions),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "ModelMeta":
        return cls(
            arch=str(raw["arch"]),
            class_names=checked.class_names(raw["class_names"], outputs=None),
            input_size=checked.input_size(raw["input_size"]),
            resize=checked.resize(raw["resize"]),
            mean=checked.channel_triple(raw["mean"], "mean"),
            std=checked.channel_triple(raw["std"], "std", positive=True),
            precision=str(raw.get("precision", "fp32")),
            source_sha256=str(raw.get("source_sha256", "")),
            versions={str(k): str(v) for k, v in dict(raw.get("versions") or {}).items()},
            extra={str(k): str(v) for k, v in dict(raw.get("extra") or {}).items()},
        )


# Stored as they are; every other field is JSON. Derived from the annotations so encoder and
# decoder cannot drift apart when a field is added.
_STRING_FIELDS = frozenset(f.name for f in fields(ModelMeta) if f.type in ("str", str))


def exporter_versions() -> dict[str, str]:
    """Versions of the packages that shape an exported file."""
    out = {}
    for dist in ("torch", "onnx", "onnxscript", "onnxruntime", "alexnet-deploy"):
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def write_meta(model_proto, meta: ModelMeta) -> None:
    """Store ``meta`` in ``model_proto.metadata_props``, replacing any earlier alexnet_deploy keys."""
    kept = [(p.key, p.value) for p in model_proto.metadata_props if not p.key.startswith(PREFIX)]
    del model_proto.metadata_props[:]
    for key, value in kept:
        model_proto.metadata_props.add(key=key, value=value)
    entries = {"format_version": META_FORMAT_VERSION, **meta.to_dict()}
    for key, value in entries.items():
        encoded = value if key in _STRING_FIELDS else json.dumps(value, sort_keys=True)
        model_proto.metadata_props.add(key=PREFIX + key, value=encoded)


def read_meta(path_or_proto, *, where: str | None = None, check: bool = True) -> ModelMeta:
    """The ModelMeta of an ONNX file or ModelProto; InputError when it has none.

    ``where`` names the model in error messages (default: its path, or "This model").
    ``check=False`` skips holding the graph to the metadata: only for files this
    tool derives itself, such as verify's probes, which expose extra outputs.
    """
    if isinstance(path_or_proto, (str, os.PathLike)):
        proto = load_onnx(path_or_proto, load_weights=False)
        return _meta_from_proto(proto, where or str(path_or_proto), check=check)
    return _meta_from_proto(path_or_proto, where or "This model", check=check)


def _meta_from_proto(proto, where: str, *, check: bool = True) -> ModelMeta:
    props = {p.key.removeprefix(PREFIX): p.value for p in proto.metadata_props if p.key.startswith(PREFIX)}
    if "arch" not in props:
        raise InputError(
            f"{where} has no alexnet-deploy metadata; it was not made by `alexnet-deploy export` "
            f"(export the checkpoint with it first)."
        )
    raw: dict[str, Any] = {
        f.name: props[f.name] if f.name in _STRING_FIELDS else _json(props[f.name], f.name, where)
        for f in fields(ModelMeta)
        if f.name in props
    }
    try:
        meta = ModelMeta.from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where} has incomplete or corrupt alexnet-deploy metadata ({exc}); re-export it.") from None
    if check:
        check_graph(proto, meta, where)
    return meta


def _json(value: str, name: str, where: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise InputError(f"{where} has corrupt alexnet-deploy metadata in {PREFIX}{name}; re-export it.") from None


def check_external_data_paths(path: str | os.PathLike) -> list[Path]:
    """Refuse an ONNX file whose external data would be read from outside its folder.

    Returns the external data files (resolved) the model uses, empty for a
    self-contained file. Raises InputError for a location that is absolute,
    contains ``..``, resolves (through symlinks) outside the model's folder, or
    is missing.
    """
    model_path = _existing_file(path)
    return _external_files(_parse(model_path), model_path)


def _parse(model_path: Path):
    import onnx

    try:
        return onnx.load(str(model_path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, ValueError, ... for bad bytes
        raise InputError(f"{model_path} is not a readable ONNX model ({type(exc).__name__}); check the file.") from None


def _external_files(proto, model_path: Path) -> list[Path]:
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data

    folder = model_path.resolve().parent
    found: list[Path] = []
    for tensor in _get_all_tensors(proto):
        if not uses_external_data(tensor):
            continue
        try:
            info = ExternalDataInfo(tensor)
        except (ValueError, TypeError):
            raise InputError(f"{model_path} has unreadable external-data fields for tensor {tensor.name!r}; "
                             f"re-export the model.") from None
        location = info.location
        bad = _bad_location(location, folder)
        if bad:
            raise InputError(
                f"{model_path} refers to external data {location!r} for tensor {tensor.name!r}, which {bad}; "
                f"refusing to load it (keep external data files next to the model)."
            )
        resolved = (folder / location).resolve()
        if not resolved.is_file():
            raise InputError(
                f"{model_path} needs external data file {location!r} next to it, which is missing; "
                f"copy it along with the model."
            )
        check_extent(tensor, info, resolved, model_path)
        if resolved not in found:
            found.append(resolved)
    return found


def _bad_location(location: str, folder: Path) -> str:
    """Why ``location`` is unsafe (empty string when it is fine)."""
    if not location:
        return "is empty"
    if os.path.isabs(location) or location.startswith(("/", "\\")) or (len(location) > 1 and location[1] == ":"):
        return "is an absolute path"
    if any(part == ".." for part in location.replace("\\", "/").split("/")):
        return "climbs out of the model's folder with '..'"
    resolved = (folder / location).resolve()
    if not resolved.is_relative_to(folder):
        return "is a symlink leading outside the model's folder"
    return ""


def _existing_file(path: str | os.PathLike) -> Path:
    file = Path(path)
    if not file.exists():
        raise InputError(f"ONNX model {file} does not exist; check the path.")
    if not file.is_file():
        raise InputError(f"{file} is not an ONNX model file.")
    if file.stat().st_size == 0:
        raise InputError(f"ONNX model {file} is empty (0 bytes); it was probably not written completely.")
    return file


def load_onnx(path: str | os.PathLike, *, load_weights: bool = True):
    """Load an ONNX ModelProto whose external-data paths have been vetted.

    With ``load_weights=False`` external tensors stay unread (enough for the
    graph and metadata); their locations are still checked.
    """
    from onnx.external_data_helper import load_external_data_for_model

    model_path = _existing_file(path)
    proto = _parse(model_path)
    if _external_files(proto, model_path) and load_weights:
        try:
            load_external_data_for_model(proto, str(model_path.resolve().parent))
        except Exception as exc:
            raise InputError(f"The external data of {model_path} cannot be read ({exc}); re-export the model.") from None
    return proto


def describe_onnx(path: str | os.PathLike) -> dict[str, Any]:
    """What ``alexnet-deploy info`` shows for an ONNX file: metadata, I/O, opset, nodes, files."""
    file = _existing_file(path)
    proto = _parse(file)
    external = _external_files(proto, file)
    meta = _meta_from_proto(proto, str(file))

    def shape(info) -> str:
        dims = [d.dim_param or str(d.dim_value) for d in info.type.tensor_type.shape.dim]
        return f"{info.name} [{'x'.join(dims)}]"

    ops: dict[str, int] = {}
    for node in proto.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    out = meta.to_dict()
    out.pop("class_names")
    for key, value in out.pop("extra").items():
        out[f"extra.{key}"] = value
    out["num_classes"] = meta.num_classes
    out["inputs"] = ", ".join(shape(i) for i in proto.graph.input)
    out["outputs"] = ", ".join(shape(o) for o in proto.graph.output)
    out["opset"] = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in proto.opset_import)
    out["ir_version"] = proto.ir_version
    out["nodes"] = len(proto.graph.node)
    out["lrn_nodes"] = ops.get("LRN", 0)
    out["size_bytes"] = file.stat().st_size + sum(p.stat().st_size for p in external)
    out["external_data"] = [p.name for p in external]
    out["class_names"] = list(meta.class_names)
    return out
