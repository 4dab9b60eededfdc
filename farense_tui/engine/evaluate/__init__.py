"""Evaluating an adapter on a split: metrics (pure Python), the evaluation job seen from outside
(no MLX), and the evaluation process that generates greedy answers and scores them (MLX)."""
