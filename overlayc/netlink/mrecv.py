"""Many netlink datagrams per system call (recvmmsg(2)), and a socket filter on the family of a
neighbour-table notification: what the entry watch (overlayc.netlink.watch) reads with.

A notification is one datagram: a recv() each costs ~2 µs of Python and kernel (100k: 0.2 s
measured on 6.18), recvmmsg of SLOTS at a time ~1.1 µs (100k: 0.11 s, nearly all the kernel's).
Each datagram lands in its own SLOT-byte slot of one buffer, so a batch is read by
`struct.iter_unpack` over the slots. Python's socket module has no recvmmsg: it is called through
ctypes, as setns(2) is in overlayc.netlink.netns.
"""

from __future__ import annotations

import ctypes
import errno as errno_mod
import socket
import struct

SLOT = 256  # a notification of an FDB or neighbour entry is 72–100 bytes (6.18)
SLOTS = 256
MSG_DONTWAIT = 0x40
SO_ATTACH_FILTER = 26


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(_Iovec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("len", ctypes.c_uint)]


_libc = ctypes.CDLL(None, use_errno=True)


class Receiver:
    """recvmmsg(2) on the socket `fd` of up to SLOTS datagrams at once, each into its own
    SLOT-byte slot of `view` (a longer one is cut: its nlmsg_len then exceeds SLOT)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buf = ctypes.create_string_buffer(SLOTS * SLOT)
        self.view = memoryview(self._buf).cast("B")
        self._iov = (_Iovec * SLOTS)()
        self._msgs = (_Mmsghdr * SLOTS)()
        base = ctypes.addressof(self._buf)
        for i in range(SLOTS):
            self._iov[i].base, self._iov[i].len = base + i * SLOT, SLOT
            self._msgs[i].hdr.iov, self._msgs[i].hdr.iovlen = ctypes.pointer(self._iov[i]), 1

    def receive(self) -> int:
        """How many slots were filled, without waiting (0: nothing queued). OSError(ENOBUFS) when
        the kernel dropped datagrams since the last call (the socket's queue was full)."""
        got = _libc.recvmmsg(self.fd, self._msgs, SLOTS, MSG_DONTWAIT, None)
        if got >= 0:
            return int(got)
        err = ctypes.get_errno()
        if err in (errno_mod.EAGAIN, errno_mod.EINTR):
            return 0
        raise OSError(err, f"recvmmsg: {errno_mod.errorcode.get(err, err)}")


# Classic BPF (linux/filter.h): A = the byte at offset 16 (ndm_family, behind the 16-byte
# nlmsghdr); if A == family: jump to the first return, else to the second.
_BPF_LD_B_ABS, _BPF_JEQ_K, _BPF_RET_K = 0x30, 0x15, 0x06
_INSN = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k


def keep_family(sock: socket.socket, family: int) -> None:
    """Let through `sock` only the messages whose byte 16 (ndm_family of a neighbour message)
    is `family`; the kernel drops the others before they are queued (sk_filter in netlink's
    broadcast), so they cost no queue space and no read. Raises OSError."""
    program = b"".join((
        _INSN.pack(_BPF_LD_B_ABS, 0, 0, 16),
        _INSN.pack(_BPF_JEQ_K, 0, 1, family),
        _INSN.pack(_BPF_RET_K, 0, 0, 0xFFFFFFFF),
        _INSN.pack(_BPF_RET_K, 0, 0, 0),
    ))
    code = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("@HP", len(program) // _INSN.size, ctypes.addressof(code))  # struct sock_fprog
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)  # the kernel copies the program
