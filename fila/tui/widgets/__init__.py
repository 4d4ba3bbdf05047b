"""Reusable widgets of the Fila TUI."""
