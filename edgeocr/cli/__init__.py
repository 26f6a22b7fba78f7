"""Command-line interface: a click group with one module per command."""
