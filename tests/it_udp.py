#!/usr/bin/env python3
"""it_udp: the daemon's UDP path: a burst of datagrams of every size comes
back whole and right, each to its sender; datagrams the kernel drops
because upcased's receive queue was full are counted (SO_RXQ_OVFL), so
that answered + dropped always adds up to what was sent.  With N threads
a udp: listener is N sockets on the port, each read by a thread of its own
(asleep in recvmmsg(), not in an event loop), and
the kernel spreads the senders over them; with one thread, one socket."""
import os
import random
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (Daemon, SLOW, bupper, expect, run_tests,  # noqa: E402
                   wait_stats, wait_until)
from edgelib import (POLL, epoll_watches, steal_fd,  # noqa: E402
                     thread_syscall, udp_readers, udp_sockets)


def udp_addr(d):
    host, port = d.addr[len("udp:"):].rsplit(":", 1)
    return host, int(port)


def test_burst_of_every_size():
    with Daemon(listen=("udp:127.0.0.1:0",)) as d:
        rnd = random.Random(11)
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                 for _ in range(3)]
        sent = {}
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            s.settimeout(10 * SLOW)
        sizes = [0, 1, 7, 64, 1000, 1472, 1473, 9000, 32768, 65507]
        # Stop upcased so the whole burst waits in its queue and is read
        # in batches, then let it go.
        d.signal(signal.SIGSTOP)
        try:
            for i, size in enumerate(sizes * 3):
                s = socks[i % len(socks)]
                data = bytes(rnd.randrange(256) for _ in range(size))
                s.sendto(data, udp_addr(d))
                sent.setdefault(s.fileno(), []).append(data)
        finally:
            d.signal(signal.SIGCONT)
        for s in socks:
            want = sorted(bupper(x) for x in sent[s.fileno()])
            got = sorted(s.recvfrom(70000)[0] for _ in want)
            expect(got == want, "each sender gets its own replies, whole")
            s.close()
        # Each thread counts a reply once it is sent: wait for them.
        st = wait_stats(d, lambda st: st["dgrams"] >= len(sizes) * 3,
                        "every reply counted")
        expect(st["dgrams"] == len(sizes) * 3 and st["dgrams_kernel_dropped"]
               == 0 and st["dgrams_dropped"] == 0, "every datagram answered",
               len(sizes) * 3, st)
        d.stop()


def test_kernel_drops_are_counted():
    # A receive buffer too small for the burst: the kernel drops some
    # before upcased reads them, and tells us how many.
    with Daemon("--udp-rcvbuf", "4096", listen=("udp:127.0.0.1:0",)) as d:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        n = 300
        d.signal(signal.SIGSTOP)
        try:
            for i in range(n):
                s.sendto(b"drop me %05d" % i, udp_addr(d))
        finally:
            d.signal(signal.SIGCONT)
        # Read what comes back; the rest was dropped on the way in.
        s.settimeout(0.5 * SLOW)
        got = 0
        deadline = time.monotonic() + 20 * SLOW
        while time.monotonic() < deadline:
            try:
                s.recvfrom(100)
                got += 1
            except socket.timeout:
                break
        # The kernel's count comes with the next datagram that socket
        # reads: send one more once the queue is empty, from the same
        # port (the kernel gives a source port to one thread's socket).
        s.settimeout(10 * SLOW)
        s.sendto(b"last", udp_addr(d))
        expect(s.recvfrom(100)[0] == b"LAST", "answered after the burst")
        s.close()
        st = wait_stats(d, lambda st: st["dgrams"] >= got + 1,
                        "every reply counted")
        expect(st["dgrams_kernel_dropped"] > 0, "kernel drops counted", "> 0",
               st)
        expect(st["dgrams"] == got + 1, "answered = replies received",
               got + 1, st["dgrams"])
        expect(st["dgrams"] + st["dgrams_kernel_dropped"] +
               st["dgrams_dropped"] == n + 1,
               "answered + dropped = sent", n + 1, st)
        d.stop()


def stop_all_threads(d):
    """SIGSTOP, and wait until every thread of d is stopped."""
    d.signal(signal.SIGSTOP)
    deadline = time.monotonic() + 20 * SLOW
    task = "/proc/%d/task" % d.proc.pid
    while True:
        states = []
        for t in os.listdir(task):
            try:
                with open("%s/%s/stat" % (task, t)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                continue  # a thread gone meanwhile
        if all(s in ("T", "t") for s in states):
            return
        expect(time.monotonic() < deadline, "every thread stopped", "T",
               states)
        time.sleep(0.01)  # no event says "stopped": poll, gently


def expect_sockets_per_reader(d, threads):
    """d's udp: listener is threads sockets, each read by exactly one
    thread of its own waiting in recvmmsg(), and watched by no event loop
    (the reader sleeps in the call itself)."""
    held = udp_sockets(d.proc.pid, udp_addr(d)[1])
    expect(len(held) == threads, "a socket per thread on the port",
           threads, sorted(held))
    # A reader just started may not have reached recvmmsg() yet.
    readers = wait_until(
        lambda: udp_readers(d.proc.pid),
        lambda r: all(fd in r for fd in held),
        "every socket's reader waiting in recvmmsg()")
    expect(all(len(readers[fd]) == 1 for fd in held) and
           len(set().union(*(readers[fd] for fd in held))) == threads,
           "each socket read by one thread of its own", sorted(held), readers)
    loops = [w & set(held) for w in epoll_watches(d.proc.pid)]
    expect(not any(loops), "no event loop watches them", [], loops)
    return held


def test_one_thread_one_socket():
    with Daemon("--threads", "1", listen=("udp:127.0.0.1:0",)) as d:
        expect_sockets_per_reader(d, 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(10 * SLOW)
        s.sendto(b"one", udp_addr(d))
        expect(s.recvfrom(100)[0] == b"ONE", "answered")
        s.close()
        d.stop()


def test_threads_share_the_senders():
    # Many source ports, sent while upcased is stopped: the kernel puts
    # them in both sockets' queues; every one is answered, to its sender,
    # and the threads' counters add up to what was sent.
    with Daemon("--threads", "2", listen=("udp:127.0.0.1:0",)) as d:
        expect_sockets_per_reader(d, 2)
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                 for _ in range(200)]
        stop_all_threads(d)
        try:
            for i, s in enumerate(socks):
                s.sendto(b"sender %03d" % i, udp_addr(d))
            queued = udp_sockets(d.proc.pid, udp_addr(d)[1])
        finally:
            d.signal(signal.SIGCONT)
        expect(len(queued) == 2 and min(queued.values()) > 0,
               "datagrams waiting in each thread's socket", "2 non-empty",
               queued)
        for i, s in enumerate(socks):
            s.settimeout(10 * SLOW)
            got, _ = s.recvfrom(100)
            expect(got == b"SENDER %03d" % i, "each sender its reply",
                   b"SENDER %03d" % i, got)
            s.close()
        st = wait_stats(d, lambda st: st["dgrams"] >= len(socks),
                        "every reply counted")
        expect(st["dgrams_in"] == len(socks) and st["dgrams"] == len(socks),
               "received and answered, summed over the threads",
               len(socks), (st["dgrams_in"], st["dgrams"]))
        d.stop()


def test_answers_on_when_the_socket_is_made_non_blocking():
    # O_NONBLOCK belongs to the socket's open file: an older upcased that
    # a restart passes the sockets to may set it.  The reader then waits
    # in poll() rather than in recvmmsg() (not in a retry loop), and
    # answers on.
    with Daemon("--threads", "1", listen=("udp:127.0.0.1:0",)) as d:
        (fd,) = expect_sockets_per_reader(d, 1)
        (tid,) = udp_readers(d.proc.pid)[fd]
        ours = steal_fd(d.proc.pid, fd)
        try:
            os.set_blocking(ours, False)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(10 * SLOW)
            # The first is read by the recvmmsg() already waiting.
            for i in range(100):
                s.sendto(b"nb %03d" % i, udp_addr(d))
                expect(s.recvfrom(100)[0] == b"NB %03d" % i, "answered",
                       b"NB %03d" % i)
            wait_until(lambda: thread_syscall(d.proc.pid, tid),
                       lambda call: call is not None and call[0] == POLL,
                       "the reader waiting in poll()")
            s.close()
        finally:
            os.close(ours)
        d.stop()


if __name__ == "__main__":
    run_tests([
        test_one_thread_one_socket,
        test_threads_share_the_senders,
        test_burst_of_every_size,
        test_kernel_drops_are_counted,
        test_answers_on_when_the_socket_is_made_non_blocking,
    ])
