"""The CNN homework package: fill in the marked TODOs in these modules."""
