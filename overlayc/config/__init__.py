"""Stage 1: load YAML with a source map, parse into the model, validate semantics."""
