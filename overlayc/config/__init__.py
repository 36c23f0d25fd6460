"""Stage 1: load YAML with a source map, parse into the model, validate semantics."""

from overlayc.config.noplugins import skip_plugin_scan

skip_plugin_scan()  # before the first model class is built (overlayc.config.noplugins says why)
