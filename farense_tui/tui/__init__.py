"""Textual cockpit of farense-tui."""
