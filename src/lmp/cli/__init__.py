"""The `lmp` command line."""
