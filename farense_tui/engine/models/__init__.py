"""Base models: local folders, the demo fetch, GGUF import, and loading into MLX (loading.py
only)."""
