"""Benchmarks of Aftercare; `python -m bench.lifecycle` (make bench) runs them."""
