"""How long a batch of examples is once padded: shared by the data check (no MLX) and the
batcher."""

PAD_TO = 32  # pad lengths to a multiple of 32, as mlx-lm does, so compiled shapes repeat


def padded_length(n: int) -> int:
    return 1 + PAD_TO * ((n + PAD_TO - 1) // PAD_TO)
