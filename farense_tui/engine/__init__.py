"""The headless engine: config, profiles, data, training, checkpoints, memory, chat.

Nothing under this package may import Textual; the TUI, the CLI and the tests all drive it.
"""
