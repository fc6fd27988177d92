"""Benchmarks. Each prints its figure and its ratio to a peer measured in the same run, on
the same machine, so a noisy machine moves both sides alike. Run `python -m bench --help`."""
