"""One Runner protocol over every backend (torch, onnxruntime, OpenVINO, TensorRT) and a registry.

``open_runner(name, artifact, **options)`` and ``available()`` live in
``registry``; the protocol and the batch loop in ``base``; one module per backend.
"""
