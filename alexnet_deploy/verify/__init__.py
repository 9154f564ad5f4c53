"""Accuracy and comparison of models against their reference."""
