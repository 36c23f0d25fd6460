"""Pure netlink codecs and constants (no I/O): message framing, XFRM and neighbour messages.

Everything here builds or parses bytes; the socket that carries them lives in
`overlayc.netlink.sock` and is used only by `observe/` and `apply/`.
"""
