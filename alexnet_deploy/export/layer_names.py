"""The module -> ONNX tensor map of an export, read from the exporter's own record of each node's module.

``torch.onnx.export`` (dynamo) tags every node it emits with the module scopes
it was traced under (``pkg.torch.onnx.name_scopes``: ``['', 'features',
'features.4', 'conv2d_1']``). A leaf module's output is the one tensor its
nodes produce that something outside the module reads (or that the graph
returns). Modules that emit no node (Dropout in eval mode) are not listed; a
module whose nodes leave more than one tensor behind is skipped rather than
guessed at.
"""

from __future__ import annotations

import ast

from alexnet_deploy.artifacts.layer_map import LayerTensor

SCOPES_KEY = "pkg.torch.onnx.name_scopes"


def layer_tensors(model, proto) -> list[LayerTensor]:
    """The output tensor of every leaf module of ``model`` in the exported ``proto``, in graph order."""
    leaves = {name: type(module).__name__ for name, module in model.named_modules() if name and not any(module.children())}
    owner_of: dict[int, str] = {}
    for index, node in enumerate(proto.graph.node):
        owner = _owner(node, leaves)
        if owner:
            owner_of[index] = owner
    produced: dict[str, list[str]] = {}
    readers: dict[str, set[str]] = {}  # tensor -> owners of the nodes reading it ("" outside any leaf)
    for index, node in enumerate(proto.graph.node):
        owner = owner_of.get(index, "")
        for name in node.input:
            readers.setdefault(name, set()).add(owner)
        if owner:
            produced.setdefault(owner, []).extend(o for o in node.output if o)
    graph_outputs = {o.name for o in proto.graph.output}
    found = []
    for module, tensors in produced.items():  # dicts keep insertion order: graph order
        leaving = [t for t in tensors if t in graph_outputs or readers.get(t, set()) - {module}]
        if len(leaving) == 1:
            found.append(LayerTensor(module=module, kind=leaves[module], tensor=leaving[0]))
    return found


def _owner(node, leaves: dict[str, str]) -> str:
    """The deepest leaf module among the node's scopes ("" when it belongs to none)."""
    for prop in node.metadata_props:
        if prop.key == SCOPES_KEY:
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return ""
            return next((s for s in reversed(scopes) if isinstance(s, str) and s in leaves), "")
    return ""
