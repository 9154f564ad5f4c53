"""PyTorch to ONNX with the parity gate."""
