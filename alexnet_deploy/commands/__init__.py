"""Click commands, one module per pipeline area; cli.py only gathers them."""
