"""Benchmarks (``make bench``): mstore against bare baselines measured in the same run."""
