"""Data preparation: what fit makes of X and y before any training."""
