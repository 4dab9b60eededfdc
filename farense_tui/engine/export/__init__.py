"""Ship a run's adapter: fused MLX model, GGUF, PEFT, Ollama; each with its provenance and check.

`plan.py` (no MLX) says what an export will read and write; `routes.py` lists the routes;
`staging.py` writes under a temp name and renames; one module per route does the work with
mlx-lm's pieces; `run.py` runs a plan; `job.py` and `process.py` run it as a job of its own.
"""
