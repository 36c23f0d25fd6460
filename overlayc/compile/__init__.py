"""Stage 2: compile a checked Config into one node's desired KernelState (pure).

    resolve(config, lock) -> (Assignment, new_lock, diagnostics)   placement, VNIs, addresses
    compile_node(config, assignment, node, at=, private_key=) -> KernelState
    lock_changes(old, new)                                     what a new lock changes

Reading and writing the lock file is the inputs edge's job (`overlayc.inputs`); the file format,
bytes ⇄ Lock, is `overlayc.files.lock`.
"""

from overlayc.compile.assign import Assignment, Attachment, resolve
from overlayc.compile.lock import Lock, Pin, lock_changes
from overlayc.compile.node import compile_node, ipsec_peers
from overlayc.compile.placement import Placement, eligible_nodes, place

__all__ = [
    "Assignment",
    "Attachment",
    "Lock",
    "Pin",
    "Placement",
    "compile_node",
    "eligible_nodes",
    "ipsec_peers",
    "lock_changes",
    "place",
    "resolve",
]
