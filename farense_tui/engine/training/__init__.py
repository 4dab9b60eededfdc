"""The engine process that trains one run on MLX: the trainer loop, which alone changes the run's
state, and its pieces (setup, the objective, compiled steps, resume, controls and guards, which
only decide, faults), batching, evaluation, memory watch, checkpoint writing."""
