"""Files overlayc reads and writes on a node: the lock, key files, saved plans, snapshots and the
state directory. Every open goes through `safe` (no symlink followed, modes fixed whatever the
umask, atomic replace, bounded reads), so that no command can be made to write through a planted
link or leave a file wider than documented.
"""
