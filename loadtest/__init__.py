"""Load tests and benchmarks for realcheck: `make bench`, `make bench-smoke`, `make scale-demo`."""
