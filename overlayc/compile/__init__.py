"""Stage 2: compile a checked Config into one node's desired KernelState (pure)."""
