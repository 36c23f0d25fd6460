"""The entry decoders find the end of their dump themselves (NLMSG_DONE, NLMSG_ERROR,
NLM_F_DUMP_INTR) and `NetlinkSocket.dump_parsed` ends, raises and drains exactly as dump_raw."""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address

import pytest

from overlayc.errors import DumpInterrupted, NeedsPrivileges
from overlayc.netlink import neigh as nn
from overlayc.netlink.core import HDR, NLMSG_DONE, NLMSG_ERROR, pack_msg
from overlayc.netlink.entrydump import NLM_F_DUMP_INTR, fdb_keys, neigh_macs
from overlayc.netlink.sock import NETLINK_ROUTE, NetlinkSocket

MULTI = 2
MAC = "02:42:0a:01:00:06"
RAW_MAC = bytes.fromhex("02420a010006")
V4 = IPv4Address("10.0.0.2")


def _fdb(seq: int, index: int = 7, dst: str = "10.0.0.2", flags: int = MULTI) -> bytes:
    return pack_msg(nn.RTM_NEWNEIGH, flags, seq, nn.encode_fdb(index, MAC, IPv4Address(dst)))


def _neigh(seq: int, ip: str, flags: int = MULTI) -> bytes:
    return pack_msg(nn.RTM_NEWNEIGH, flags, seq, nn.encode_neigh(7, IPv4Address(ip), MAC))


def _done(seq: int, flags: int = MULTI) -> bytes:
    return pack_msg(NLMSG_DONE, flags, seq, b"\0" * 4)


def _error(seq: int, err: int) -> bytes:
    request = HDR.pack(16, nn.RTM_GETNEIGH, 0x301, seq, 0)
    return pack_msg(NLMSG_ERROR, 0, seq, struct.pack("=i", -err) + request)


def test_fdb_keys_stops_at_done_and_reads_nothing_after_it() -> None:
    head = _fdb(5) + _fdb(5, dst="10.0.0.3")
    buf = head + _done(5) + _fdb(5, dst="10.0.0.4")
    sets: dict[int, set[bytes]] = {7: set()}
    assert fdb_keys(buf, sets) == (len(head), False)
    assert sets == {7: {RAW_MAC + V4.packed, RAW_MAC + IPv4Address("10.0.0.3").packed}}


def test_the_decoders_run_to_the_end_of_a_buffer_without_an_end_and_resume_at_an_offset() -> None:
    first = _neigh(5, "10.1.0.6")
    buf = first + _neigh(5, "10.1.0.7")
    tables: dict[int, dict[bytes, bytes]] = {7: {}}
    assert neigh_macs(buf, tables, len(first)) == (-1, False)
    assert tables == {7: {bytes([10, 1, 0, 7]): RAW_MAC}}
    sets: dict[int, set[bytes]] = {7: set()}
    assert fdb_keys(_fdb(5), sets) == (-1, False)


def test_the_decoders_stop_at_an_error_message() -> None:
    head = _neigh(5, "10.1.0.6")
    tables: dict[int, dict[bytes, bytes]] = {7: {}}
    assert neigh_macs(head + _error(5, errno.EPERM), tables) == (len(head), False)
    sets: dict[int, set[bytes]] = {7: set()}
    assert fdb_keys(_error(5, errno.EPERM), sets) == (0, False)


@pytest.mark.parametrize("where", ["entry", "done"])
def test_the_decoders_report_an_interrupted_dump(where: str) -> None:
    intr = MULTI | NLM_F_DUMP_INTR
    fdb = _fdb(5, flags=intr if where == "entry" else MULTI) + _done(5, intr if where == "done" else MULTI)
    assert fdb_keys(fdb, {7: set()})[1] is True
    neigh = _neigh(5, "10.1.0.6", intr if where == "entry" else MULTI) + _done(
        5, intr if where == "done" else MULTI)
    assert neigh_macs(neigh, {7: {}})[1] is True


class _Scripted(NetlinkSocket):
    """A socket whose dump request is sent nowhere (its seq is 5) and whose recv() returns
    prepared datagrams."""

    def __init__(self, datagrams: list[bytes]) -> None:
        super().__init__(NETLINK_ROUTE)
        self.datagrams: Iterator[bytes] = iter(datagrams)

    def _send_dump(self, msg_type: int, body: bytes) -> int:
        return 5

    def _recv(self) -> bytes:
        return next(self.datagrams)


def _fdb_parser(sets: dict[int, set[bytes]]) -> Callable[[bytes, int], tuple[int, bool]]:
    return lambda buf, off: fdb_keys(buf, sets, off)


def _run(datagrams: list[bytes]) -> tuple[_Scripted, dict[int, set[bytes]]]:
    sock = _Scripted(datagrams)
    sets: dict[int, set[bytes]] = {7: set()}
    try:
        sock.dump_parsed(nn.RTM_GETNEIGH, nn.encode_dump(nn.AF_BRIDGE), _fdb_parser(sets))
    finally:
        sock.close()
    return sock, sets


def test_dump_parsed_reads_every_datagram_up_to_its_done() -> None:
    sock, sets = _run([_fdb(5), _fdb(5, dst="10.0.0.3") + _done(5), _fdb(6)])
    assert sets == {7: {RAW_MAC + V4.packed, RAW_MAC + IPv4Address("10.0.0.3").packed}}
    assert next(sock.datagrams) == _fdb(6)  # nothing read past the dump's end


def test_dump_parsed_skips_the_end_of_another_sequence_number() -> None:
    _, sets = _run([_fdb(5) + _done(4) + _fdb(5, dst="10.0.0.3"), _done(5)])
    assert len(sets[7]) == 2


def test_dump_parsed_raises_dump_interrupted_after_reading_the_whole_dump() -> None:
    with pytest.raises(DumpInterrupted):
        _run([_fdb(5, flags=MULTI | NLM_F_DUMP_INTR), _fdb(5) + _done(5)])


@pytest.mark.parametrize(("err", "raised"), [(errno.EPERM, NeedsPrivileges), (errno.EINVAL, OSError)])
def test_dump_parsed_raises_the_errors_dump_raw_raises(err: int, raised: type[Exception]) -> None:
    with pytest.raises(raised):
        _run([_fdb(5), _error(5, err)])


def test_a_failing_parser_drains_the_dump_before_raising() -> None:
    sock = _Scripted([_fdb(5), _fdb(5), _done(5) + _fdb(6), _fdb(7)])

    def parse(buf: bytes, off: int) -> tuple[int, bool]:
        raise ValueError("bad entry")

    with pytest.raises(ValueError, match="bad entry"):
        sock.dump_parsed(nn.RTM_GETNEIGH, b"", parse)
    assert next(sock.datagrams) == _fdb(7)
    sock.close()


def test_a_parser_failing_on_the_last_datagram_reads_no_further() -> None:
    sock = _Scripted([_fdb(5) + _done(5), _fdb(7)])

    def parse(buf: bytes, off: int) -> tuple[int, bool]:
        raise ValueError("bad entry")

    with pytest.raises(ValueError):
        sock.dump_parsed(nn.RTM_GETNEIGH, b"", parse)
    assert next(sock.datagrams) == _fdb(7)
    sock.close()
