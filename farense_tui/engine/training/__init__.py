"""The engine process that trains one run on MLX: trainer loop, batching, evaluation, memory watch, checkpoint writing."""
