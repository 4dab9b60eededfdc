"""farense-tui: a terminal training cockpit for (Q)LoRA fine-tuning on Apple MLX."""

__version__ = "0.1.0"
