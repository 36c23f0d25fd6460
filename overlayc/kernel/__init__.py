"""Kernel objects (`objects`), ownership and identity (`ownership`), KernelState (`state`): pure
data, no I/O. Import from the submodules."""
