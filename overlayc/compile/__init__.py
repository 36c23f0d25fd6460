"""Stage 2: compile a checked Config into one node's desired KernelState (pure).

    resolve(config, lock) -> (Assignment, new_lock, diagnostics)   placement, VNIs, addresses
    compile_node(config, assignment, node, at=, private_key=) -> KernelState
    lock_changes(old, new)                                     what a new lock changes

Reading and writing the lock file is the inputs edge's job (`overlayc.inputs`).
"""

from overlayc.compile.assign import Assignment, Attachment, resolve
from overlayc.compile.lock import Lock, Pin, dumps_lock, lock_changes, read_lock, write_lock
from overlayc.compile.node import compile_node, ipsec_peers
from overlayc.compile.placement import Placement, eligible_nodes, place

__all__ = [
    "Assignment",
    "Attachment",
    "Lock",
    "Pin",
    "Placement",
    "compile_node",
    "dumps_lock",
    "eligible_nodes",
    "ipsec_peers",
    "lock_changes",
    "place",
    "read_lock",
    "resolve",
    "write_lock",
]
