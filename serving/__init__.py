"""Starting, waiting for and stopping TorchServe with realcheck's archives.

Used by `make serve`/`make stop`, the end-to-end tests and the benchmarks, so
all three run the server the same way.
"""
