"""The machine: RAM, chip, MLX device and BLAS, detected without loading MLX."""
