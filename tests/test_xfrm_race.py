"""SA deletes refused with ESRCH while the kernel grows its SA hash tables
(overlayc.apply.xfrm_race): sent again while the dump still lists the SA, reported otherwise.
A fake XFRM socket stands in for the kernel (the race itself needs ESP and luck to show)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator, Sequence
from ipaddress import IPv4Address

import pytest

from overlayc.apply import xfrm_race
from overlayc.apply.kernel import KernelHandle
from overlayc.diff import Action, Change, Reason
from overlayc.errors import ExecutionError
from overlayc.kernel.objects import XfrmState
from overlayc.netlink import xfrm as nx
from overlayc.netlink.core import Message
from overlayc.netlink.sock import Request

A, B = IPv4Address("192.0.2.1"), IPv4Address("192.0.2.2")


def state(spi: int) -> XfrmState:
    return XfrmState(src=A, dst=B, spi=spi, key_fp=None, secret=bytes(20))


def delete(spi: int) -> Request:
    return nx.XFRM_MSG_DELSA, 0, nx.encode_sa_id(B, spi, A)


class FakeXfrm:
    """SAs by spi; `misses[spi]`: how many DELSA of it the kernel refuses (ESRCH) while it is
    there, as a lookup racing a hash resize does."""

    def __init__(self, spis: Sequence[int], misses: dict[int, int]) -> None:
        self.sas = {spi: state(spi) for spi in spis}
        self.misses = dict(misses)
        self.sent: list[list[int]] = []  # message types per transact
        self.dumps = 0

    def transact(self, requests: Sequence[Request]) -> list[tuple[int, str]]:
        self.sent.append([t for t, _, _ in requests])
        out = []
        for t, _, body in requests:
            _daddr, spi_be, _fam, _proto = nx.USERSA_ID.unpack_from(body)
            spi = socket.ntohl(spi_be)
            if t != nx.XFRM_MSG_DELSA or spi not in self.sas:
                out.append((errno.ESRCH, ""))
            elif self.misses.get(spi, 0) > 0:
                self.misses[spi] -= 1
                out.append((errno.ESRCH, ""))
            else:
                del self.sas[spi]
                out.append((0, ""))
        return out

    def dump(self, msg_type: int, body: bytes) -> Iterator[Message]:
        assert msg_type == nx.XFRM_MSG_GETSA
        self.dumps += 1
        for sa in self.sas.values():
            yield Message(nx.XFRM_MSG_NEWSA, 2, 0, nx.encode_sa(sa))


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xfrm_race, "PAUSE", 0.0)


def test_a_delete_the_kernel_missed_is_sent_again_while_the_sa_is_listed() -> None:
    sock = FakeXfrm([0x1000, 0x1001, 0x1002], misses={0x1001: 2})
    results = xfrm_race.transact_xfrm(sock, [delete(0x1000), delete(0x1001), delete(0x1002)], pause=0)
    assert results == [(0, "")] * 3 and sock.sas == {}
    assert sock.sent == [[nx.XFRM_MSG_DELSA] * 3, [nx.XFRM_MSG_DELSA], [nx.XFRM_MSG_DELSA]]  # only it, twice


def test_an_sa_the_dump_does_not_list_stays_refused_and_is_not_sent_again() -> None:
    sock = FakeXfrm([0x1000], misses={})
    results = xfrm_race.transact_xfrm(sock, [delete(0x1000), delete(0x2000)], pause=0)
    assert results == [(0, ""), (errno.ESRCH, "")]
    assert sock.sent == [[nx.XFRM_MSG_DELSA] * 2] and sock.dumps == 1


def test_retries_are_bounded() -> None:
    sock = FakeXfrm([0x1000], misses={0x1000: 99})
    results = xfrm_race.transact_xfrm(sock, [delete(0x1000)], retries=3, pause=0)
    assert results == [(errno.ESRCH, "")] and len(sock.sent) == 4 and 0x1000 in sock.sas


def test_only_sa_deletes_are_retried() -> None:
    sock = FakeXfrm([0x1000], misses={})
    add = (nx.XFRM_MSG_NEWSA, 0, nx.encode_sa(state(0x1000)))
    assert xfrm_race.transact_xfrm(sock, [add], pause=0) == [(errno.ESRCH, "")]
    assert sock.sent == [[nx.XFRM_MSG_NEWSA]] and sock.dumps == 0


@pytest.mark.kernel
def test_the_executor_sends_its_sa_deletes_through_the_retry(netns: str) -> None:
    """The executor's XFRM batches go through transact_xfrm: one missed delete does not fail the
    apply; an SA that is really gone still does, in words."""
    change = Change(Action.DELETE, state(0x1000).key, state(0x1000), None, Reason.NOT_IN_CONFIG)
    with KernelHandle(netns) as handle:
        handle.xs = FakeXfrm([0x1000], misses={0x1000: 1})  # type: ignore[assignment]
        handle.execute([change])
        assert handle.xs.sas == {}  # type: ignore[attr-defined]
        with pytest.raises(ExecutionError) as err:
            handle.execute([change])
    assert "does not exist" in err.value.failures[0][1]
