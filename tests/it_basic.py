#!/usr/bin/env python3
"""Integration: what every client of upcased relies on -- the seed's
exchange, byte exactness, concurrency, streams, half-close, every kind of
listener."""
import ctypes
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import threading
import time

from itlib import (Daemon, UPCASE, UPCASED, bupper, connect, expect,
                   recv_exactly,
                   recv_until_eof, run_tests, parse_addr, SLOW)


def test_seed_exchange():
    # The seed's client, as written: send 'hello', recv(1024), print.
    with Daemon() as d:
        fam, _, sa = parse_addr(d.addr)
        test = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        test.settimeout(10 * SLOW)
        test.connect(sa)
        test.send("hello".encode("utf-8"))
        server_data = test.recv(1024)
        test.close()
        expect(server_data == b"HELLO", "seed exchange", b"HELLO", server_data)
        d.stop()


def test_all_byte_values():
    data = bytes(range(256)) * 4
    with Daemon() as d:
        s = connect(d.addr)
        s.sendall(data)
        got = recv_exactly(s, len(data))
        expect(got == bupper(data), "256 byte values", bupper(data), got)
        s.close()
        d.stop()


def test_many_concurrent_clients():
    # 200 clients at once, each a different random binary conversation
    # in several writes; every reply byte must match.
    n = 200
    errors = []
    barrier = threading.Barrier(n)

    def client(i, addr):
        rnd = random.Random(i)
        try:
            s = connect(addr, timeout=30)
            barrier.wait(30 * SLOW)
            for _ in range(5):
                msg = rnd.randbytes(rnd.randint(1, 5000))
                s.sendall(msg)
                got = recv_exactly(s, len(msg), timeout=30)
                if got != bupper(msg):
                    errors.append("client %d: reply differs" % i)
                    return
            s.close()
        except Exception as e:
            errors.append("client %d: %r" % (i, e))

    with Daemon("--threads", "2") as d:
        ts = [threading.Thread(target=client, args=(i, d.addr)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        expect(not errors, "200 concurrent clients", [], errors[:5])
        d.stop()


def _stream(addr, data, chunk):
    s = connect(addr, timeout=30)
    out = bytearray()

    def reader():
        while len(out) < len(data):
            b = s.recv(1 << 20)
            if not b:
                break
            out.extend(b)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(0, len(data), chunk):
        s.sendall(data[i:i + chunk])
    t.join(60 * SLOW)
    s.close()
    return bytes(out)


def test_ten_megabyte_stream():
    data = random.Random(1).randbytes(10 * 1024 * 1024)
    with Daemon() as d:
        got = _stream(d.addr, data, 65536)
        expect(len(got) == len(data), "10 MB stream length", len(data), len(got))
        expect(got == bupper(data), "10 MB stream content")
        d.stop()


def test_chunking_is_invisible():
    # Tiny and odd chunk sizes split the stream differently; the client
    # must see the same bytes.
    data = random.Random(2).randbytes(200000)
    for chunk in ("1", "7", "65536"):
        with Daemon("--chunk-size", chunk) as d:
            got = _stream(d.addr, data, 3000)
            expect(got == bupper(data), "chunk_size %s changes nothing" % chunk)
            d.stop()


def test_half_close_gets_everything():
    # Send 1 MB, shut down the write side, and only then start reading:
    # the whole 1 MB must come back before EOF.
    data = random.Random(3).randbytes(1024 * 1024)
    with Daemon() as d:
        s = connect(d.addr, timeout=30)
        sender = threading.Thread(target=lambda: (s.sendall(data),
                                                  s.shutdown(socket.SHUT_WR)))
        sender.start()
        got = recv_until_eof(s, timeout=30)
        sender.join()
        expect(len(got) == len(data), "bytes before EOF", len(data), len(got))
        expect(got == bupper(data), "half-close content")
        s.close()
        d.stop()


def test_half_close_with_replies_queued():
    # 16 MB sent without reading, into a small receive buffer: when the EOF
    # arrives most replies are still queued in upcased, not in the kernel.
    # They all come out, in order, and only then does upcased close.
    data = random.Random(4).randbytes(16 << 20)
    with Daemon("-v", "--max-pending", str(64 << 20)) as d:
        s = connect(d.addr, timeout=30, rcvbuf=65536)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = recv_until_eof(s, timeout=60)
        expect(len(got) == len(data), "bytes before EOF", len(data), len(got))
        expect(got == bupper(data), "queued replies' content")
        d.wait_log(r"close \S+ in=%d out=%d reason=eof" % (len(data),
                                                         len(data)))
        s.close()
        d.stop()


def test_empty_connection_closes_cleanly():
    with Daemon("-v") as d:
        s = connect(d.addr)
        s.shutdown(socket.SHUT_WR)
        expect(recv_until_eof(s) == b"", "no bytes for no bytes")
        d.wait_log(r"close .* in=0 out=0 reason=eof")
        d.stop()


def test_ipv6():
    if not socket.has_ipv6:
        return
    with Daemon(listen=("[::1]:0",)) as d:
        expect(d.addr.startswith("[::1]:"), "v6 listening line", "[::1]:PORT", d.addr)
        s = connect(d.addr)
        s.sendall(b"ipv6 ok")
        expect(recv_exactly(s, 7) == b"IPV6 OK", "v6 reply")
        d.stop()


def test_any_address():
    with Daemon(listen=("*:0",)) as d:
        expect(d.addr.startswith("*:"), "listening on *", "*:PORT", d.addr)
        port = int(d.addr.split(":")[1])
        for host, fam in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(10 * SLOW)
            s.connect((host, port))
            s.sendall(b"any")
            expect(recv_exactly(s, 3) == b"ANY", "reply via %s" % host)
            s.close()
        d.stop()


def test_udp():
    with Daemon(listen=("udp:127.0.0.1:0",)) as d:
        expect(d.addr.startswith("udp:127.0.0.1:"), "udp listening line",
               "udp:127.0.0.1:PORT", d.addr)
        fam, kind, sa = parse_addr(d.addr)
        s = socket.socket(fam, kind)
        s.settimeout(10 * SLOW)
        for msg in (b"hello", b"", bytes(range(256)),
                    random.Random(4).randbytes(65507)):
            s.sendto(msg, sa)
            got, peer = s.recvfrom(65536)
            expect(got == bupper(msg), "udp datagram of %d bytes" % len(msg),
                   len(msg), len(got))
        d.stop()


def test_udp_reply_that_cannot_be_sent_is_counted():
    # A datagram from the broadcast address (sent through a raw socket,
    # its IP header ours) can be received but not answered: sendto()
    # refuses a broadcast destination without SO_BROADCAST.  The drop is
    # counted, with the bytes that came in, and serving goes on.  (Port 0,
    # which sendto() refuses too, is never answered at all: an echo loop.)
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError:
        print("# skip: a raw socket needs CAP_NET_RAW")
        return
    with Daemon(listen=("udp:127.0.0.1:0",)) as d:
        fam, kind, sa = parse_addr(d.addr)
        data = b"no reply possible"
        udp = struct.pack("!HHHH", 4000, sa[1], 8 + len(data), 0) + data
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64,
                         socket.IPPROTO_UDP, 0,
                         socket.inet_aton("255.255.255.255"),
                         socket.inet_aton("127.0.0.1"))
        raw.sendto(ip + udp, ("127.0.0.1", 0))
        raw.close()
        deadline = time.monotonic() + 20 * SLOW
        while True:
            st = d.stats()
            if st.get("dgrams_dropped") or time.monotonic() > deadline:
                break
            time.sleep(0.01)  # no event says "datagram read": poll gently
        expect(st.get("dgrams_dropped") == 1 and st["bytes_in"] == len(data)
               and st["dgrams"] == 0 and st["bytes_out"] == 0,
               "a reply the kernel refused, in the stats line",
               "dgrams_dropped=1 bytes_in=%d dgrams=0 bytes_out=0" % len(data),
               st)
        s = socket.socket(fam, kind)
        s.settimeout(10 * SLOW)
        s.sendto(b"still here", sa)
        expect(s.recv(100) == b"STILL HERE", "served after the drop")
        d.stop()


def _in_netns(name):
    """A preexec_fn that moves the child into network namespace name."""
    def enter():
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open("/run/netns/" + name, os.O_RDONLY)
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            os._exit(97)
        os.close(fd)
    return enter


def test_link_local_scope_round_trips():
    # A link-local address needs its interface: the listening line names
    # it (%lo) and reads back, as -l and through --check-config.  The
    # address exists only in a network namespace of the test's own.
    name = "upcased-it-%d" % os.getpid()
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("# skip: creating a network namespace needs root and ip(8)")
        return
    setup = [["ip", "netns", "add", name],
             ["ip", "-n", name, "link", "set", "lo", "up"],
             ["ip", "-n", name, "-6", "addr", "add", "fe80::1/64", "dev",
              "lo", "nodad"]]
    try:
        for cmd in setup:
            r = subprocess.run(cmd, capture_output=True, timeout=20)
            if r.returncode != 0:
                print("# skip: %s: %s" % (" ".join(cmd),
                                          r.stderr.decode().strip()))
                return
        with Daemon(listen=("[fe80::1%lo]:0",), preexec_fn=_in_netns(name)) as d:
            expect(re.fullmatch(r"\[fe80::1%lo\]:\d+", d.addr),
                   "listening line with the scope", "[fe80::1%lo]:PORT", d.addr)
            r = subprocess.run(["ip", "netns", "exec", name, UPCASE, "-m",
                                "scoped", d.addr], capture_output=True,
                               timeout=20 * SLOW)
            expect(r.returncode == 0 and r.stdout == b"SCOPED\n",
                   "upcase to the listening line's address", b"SCOPED\n",
                   (r.returncode, r.stdout, r.stderr))
            r = subprocess.run([UPCASED, "--check-config", "-l", d.addr],
                               capture_output=True, timeout=20)
            expect(("listen = %s\n" % d.addr).encode() in r.stdout,
                   "--check-config prints it back", d.addr, r.stdout)
            d.stop()
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True,
                       timeout=20)


def test_unix_socket_and_cleanup():
    path = "/tmp/upcased-it-%d.sock" % os.getpid()
    if os.path.exists(path):
        os.unlink(path)
    # A stale socket file from a dead server is replaced.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    expect(os.path.exists(path), "stale socket file made")
    with Daemon(listen=("unix:" + path,)) as d:
        expect(d.addr == "unix:" + path, "unix listening line", "unix:" + path, d.addr)
        s = connect(d.addr)
        s.sendall(b"unix")
        expect(recv_exactly(s, 4) == b"UNIX", "unix reply")
        s.close()
        # A second server on a live socket is refused, and leaves it alone.
        with Daemon(listen=("unix:" + path,), expect_listeners=0) as d2:
            rc = d2.wait()
            expect(rc == 1, "second server on a live unix socket exits 1", 1, rc)
            expect(any("already listening" in l for l in d2.lines),
                   "says a server is listening", "already listening", d2.lines)
        s = connect(d.addr)
        s.sendall(b"still")
        expect(recv_exactly(s, 5) == b"STILL", "first server still serves")
        s.close()
        d.stop()
    expect(not os.path.exists(path), "socket file removed at exit")


def test_unix_path_not_a_socket_is_kept():
    path = "/tmp/upcased-it-file-%d" % os.getpid()
    with open(path, "w") as f:
        f.write("precious\n")
    try:
        with Daemon(listen=("unix:" + path,), expect_listeners=0) as d:
            rc = d.wait()
            expect(rc == 1, "refuses a regular file", 1, rc)
            expect(any("not a socket" in l for l in d.lines), "says why",
                   "not a socket", d.lines)
        with open(path) as f:
            expect(f.read() == "precious\n", "file untouched")
    finally:
        os.unlink(path)


def test_several_listeners():
    with Daemon(listen=("127.0.0.1:0", "udp:127.0.0.1:0", "[::1]:0")) as d:
        expect(len(d.addrs) == 3, "three listening lines", 3, d.addrs)
        for a in (d.addrs[0], d.addrs[2]):
            s = connect(a)
            s.sendall(b"multi")
            expect(recv_exactly(s, 5) == b"MULTI", "reply on " + a)
            s.close()
        d.stop()


def test_port_in_use():
    with Daemon() as d:
        with Daemon(listen=(d.addr,), expect_listeners=0) as d2:
            rc = d2.wait()
            expect(rc == 1, "exit status for a port in use", 1, rc)
            msg = "\n".join(d2.lines)
            expect("cannot listen on %s" % d.addr in msg and "in use" in msg,
                   "message names the address and the reason",
                   "cannot listen on %s: Address already in use" % d.addr, msg)
        d.stop()


def test_reset_mid_stream_harms_nobody():
    with Daemon("-v") as d:
        bystander = connect(d.addr)
        for i in range(20):
            s = connect(d.addr)
            s.sendall(random.Random(i).randbytes(300000))
            # RST instead of FIN: linger on, timeout 0.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        bystander.sendall(b"still here")
        expect(recv_exactly(bystander, 10) == b"STILL HERE", "bystander served")
        bystander.close()
        d.stop()


def test_reset_before_the_first_byte():
    with Daemon("-v") as d:
        s = connect(d.addr)
        d.wait_log(r"debug open ")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        d.wait_log(r"close \S+ in=0 out=0 reason=reset")
        s = connect(d.addr)
        s.sendall(b"hello")
        expect(recv_exactly(s, 5) == b"HELLO", "next client served")
        s.close()
        d.stop()


if __name__ == "__main__":
    run_tests([
        test_seed_exchange,
        test_all_byte_values,
        test_many_concurrent_clients,
        test_ten_megabyte_stream,
        test_chunking_is_invisible,
        test_half_close_gets_everything,
        test_half_close_with_replies_queued,
        test_empty_connection_closes_cleanly,
        test_ipv6,
        test_any_address,
        test_udp,
        test_udp_reply_that_cannot_be_sent_is_counted,
        test_link_local_scope_round_trips,
        test_unix_socket_and_cleanup,
        test_unix_path_not_a_socket_is_kept,
        test_several_listeners,
        test_port_in_use,
        test_reset_mid_stream_harms_nobody,
        test_reset_before_the_first_byte,
    ])
