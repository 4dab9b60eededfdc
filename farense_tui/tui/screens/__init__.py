"""Screens used as App modes."""
