"""The headless engine: everything farense-tui does, driven alike by the TUI, the CLI and the tests.

Nothing under this package may import Textual. Its parts:
  profiles/   memory profiles: their settings and each one's role (memory or recipe), downshift,
              the memory estimate
  data/       checking and reading JSONL data sets; the system message a run trained with
  models/     local and demo models, loading with LoRA, GGUF import
  runs/       a run seen from outside, no MLX: its folder (run_folder.py), config, events and
              commands, the status fold and its curves, the supervisor, groups and their queue
  training/   the engine process that trains one run on MLX
  evaluate/   an evaluation of a run's adapter, as a process of its own
  export/     a run's adapter as a fused model, GGUF, PEFT or Ollama
  chat/       talking to a base model or an adapter, and serving one over HTTP
  machine/    what the machine has: memory, GPU, BLAS, the kernel's OOM kills
  processes.py  the engine's processes: their names, environment variables and exit codes
"""
