"""One command from checkpoint to proof: the stages chained, each step skipped when its inputs are unchanged."""
