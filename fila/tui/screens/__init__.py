"""Screens of the Fila TUI."""
