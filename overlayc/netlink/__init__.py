"""Pure netlink codecs and constants (no I/O): message framing, XFRM and neighbour messages.

Everything here builds or parses bytes; the socket that carries them lives in
`overlayc.netlink.sock`, and `overlayc.netlink.netns.Namespace` (the one place that enters
namespaces) makes those sockets for `observe/` and `apply/`, which alone use them.
"""
