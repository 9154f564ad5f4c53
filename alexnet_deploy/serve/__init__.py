"""Triton model repository: ONNX models and TensorRT engines as models Triton Inference Server loads.

``export_repository(artifacts, out)`` (``serve.triton``) writes ``<model>/config.pbtxt``,
``<model>/1/model.onnx`` or ``model.plan`` and ``<model>/labels.txt`` for each
artifact, with shapes, data types and batching read from the artifact itself.
"""
