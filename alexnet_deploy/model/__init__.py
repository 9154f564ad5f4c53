"""The model zoo, the LRN op and layer tables."""
