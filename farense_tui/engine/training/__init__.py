"""The engine process that trains one run on MLX: the trainer loop and its pieces (setup, compiled steps, resume, controls, guards, faults), batching, evaluation, memory watch, checkpoint writing."""
