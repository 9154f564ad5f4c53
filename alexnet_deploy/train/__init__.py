"""Training: the loop, its inputs, recipes, torchrun and progress."""
