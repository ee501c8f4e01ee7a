"""Models: where weights come from (catalog, hub, GGUF import), the local cache, device and precision, BLAS, and the one module that wraps mlx-lm's internal API."""
