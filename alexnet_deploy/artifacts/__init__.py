"""What the pipeline writes and reads: checkpoints and ONNX files that describe themselves."""
