"""Stage 2: compile a checked Config into one node's desired KernelState (pure).

    resolve(config, lock) -> (Assignment, new_lock, diagnostics)   placement, VNIs, addresses
    compile_node(config, assignment, node, at=, private_key=) -> KernelState
    assign_with_lock(loaded, locked=) -> Assignment            read/resolve/check/write the lock
    lock_changes(old, new)                                     what a new lock changes
(the lock file itself, bytes ⇄ Lock: `overlayc.files.lock`)
"""

from overlayc.compile.assign import Assignment, Attachment, resolve
from overlayc.compile.lock import Lock, LockOutdated, Pin, lock_changes
from overlayc.compile.locked import assign_with_lock
from overlayc.compile.node import compile_node, ipsec_peers
from overlayc.compile.placement import Placement, eligible_nodes, place

__all__ = [
    "Assignment",
    "Attachment",
    "Lock",
    "LockOutdated",
    "Pin",
    "Placement",
    "assign_with_lock",
    "compile_node",
    "eligible_nodes",
    "ipsec_peers",
    "lock_changes",
    "place",
    "resolve",
]
