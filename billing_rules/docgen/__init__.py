"""Documentation generated from the code (README catalogue, plugin guide vocabulary), never hand-copied."""
