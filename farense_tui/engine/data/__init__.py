"""Training data: record formats, the data check and its report; no MLX."""
