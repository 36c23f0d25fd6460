"""overlayc: a declarative config-to-kernel compiler for secure VXLAN overlay networks."""

__version__ = "0.1.0"
