"""LLM units: chat rendering and its prefix check, LoRA training (with the frozen-trunk cache and validation), label-probability scoring, output parsing."""
