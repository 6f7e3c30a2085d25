"""edgelib: what the tests of upcased at the edge share -- PROXY protocol
headers built by hand (after haproxy.org's proxy-protocol.txt), clients
bound to a chosen source address, raw IPv4/UDP datagrams with a forged
source, and a process's UDP sockets, event loops and threads' system
calls as /proc shows them."""
import ctypes
import ipaddress
import os
import platform
import re
import socket
import struct

from itlib import SLOW, expect

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v1(src, dst):
    """'PROXY TCP4|TCP6 SRC DST SPORT DPORT\\r\\n'; src None: UNKNOWN."""
    if src is None:
        return b"PROXY UNKNOWN\r\n"
    fam = "TCP6" if ":" in src[0] else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src[0], dst[0], src[1],
                                          dst[1])).encode()


def proxy_v2(src, dst, tlvs=b""):
    """The binary header; src None: LOCAL."""
    if src is None:
        return V2_SIG + b"\x20\x00" + struct.pack("!H", len(tlvs)) + tlvs
    ip = ipaddress.ip_address(src[0])
    fam = 0x21 if ip.version == 6 else 0x11
    body = (ip.packed + ipaddress.ip_address(dst[0]).packed +
            struct.pack("!HH", src[1], dst[1]) + tlvs)
    return V2_SIG + b"\x21" + bytes([fam]) + struct.pack("!H", len(body)) + body


def connect_from(source, addr, timeout=10):
    """A TCP client bound to source ('127.0.0.5' or '::1') connected to
    (host, port)."""
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout * SLOW)
    s.bind((source, 0))
    s.connect(addr)
    return s


def refused(s, probe=b"?"):
    """Whether the server closed s without answering: send probe, read."""
    try:
        s.sendall(probe)
        return s.recv(100) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def raw_udp(src, sport, dst, dport, data):
    """An IPv4 datagram with the source we say, through a raw socket
    (root only).  Returns False if raw sockets are not allowed."""
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW,
                            socket.IPPROTO_RAW)
    except PermissionError:
        return False
    udp = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64,
                     socket.IPPROTO_UDP, 0, socket.inet_aton(src),
                     socket.inet_aton(dst))
    with raw:
        raw.sendto(ip + udp, (dst, 0))
    return True


def host_port(addr):
    """'127.0.0.1:5' -> ('127.0.0.1', 5); '[::1]:5' -> ('::1', 5); the
    same for udp: addresses."""
    if addr.startswith("udp:"):
        addr = addr[4:]
    host, port = addr.rsplit(":", 1)
    return host.strip("[]"), int(port)


def expect_served(s, data=b"ping"):
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = s.recv(len(data) - len(got))
        if not chunk:
            break
        got += chunk
    expect(got == data.upper(), "served", data.upper(), got)


def logged(d, pattern, timeout=20):
    """Wait until some line of d's log so far matches (unlike wait_log,
    which reads only new lines, and which stats() moves past)."""
    rx = re.compile(pattern)
    d.wait_lines(lambda lines: any(rx.search(line) for line in lines),
                 "a log line matching %r" % pattern, timeout)


def udp_sockets(pid, port):
    """The UDP sockets process pid holds bound to port (IPv4 or IPv6):
    {fd: bytes waiting in its receive queue}."""
    queued = {}
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            col = row.split()
            if int(col[1].rsplit(":", 1)[1], 16) == port:
                queued[col[9]] = int(col[4].split(":")[1], 16)
    held = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue  # closed meanwhile
        m = re.match(r"socket:\[(\d+)\]$", link)
        if m and m.group(1) in queued:
            held[int(fd)] = queued[m.group(1)]
    return held


def epoll_watches(pid):
    """For each epoll instance (an event loop) of process pid, the set of
    descriptors it watches."""
    loops = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != \
                    "anon_inode:[eventpoll]":
                continue
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                info = f.read()
        except OSError:
            continue
        loops.append({int(t) for t in re.findall(r"^tfd:\s*(\d+)", info,
                                                 re.M)})
    return loops


# System call numbers, as /proc/PID/task/TID/syscall shows them (32-bit
# glibc calls recvmmsg_time64 instead: not listed); poll() is ppoll on
# aarch64.
RECVMMSG = {"x86_64": 299, "aarch64": 243}.get(platform.machine())
POLL = {"x86_64": 7, "aarch64": 73}.get(platform.machine())
PIDFD_GETFD = 438  # the same on every architecture


def thread_syscall(pid, tid):
    """The system call thread tid of process pid waits in now, as
    /proc shows it: (its number, [its arguments]), or None if the thread
    runs or is gone."""
    try:
        with open("/proc/%d/task/%d/syscall" % (pid, tid)) as f:
            call = f.read().split()
    except OSError:
        return None
    if not call or not call[0].isdigit():  # "running", or -1: none
        return None
    return int(call[0]), call[1:]


def udp_readers(pid):
    """For each descriptor of process pid that a thread of it waits on in
    recvmmsg() now, the set of those threads' ids."""
    expect(RECVMMSG is not None, "recvmmsg's system call number known "
           "on this machine", "x86_64 or aarch64", platform.machine())
    readers = {}
    for tid in map(int, os.listdir("/proc/%d/task" % pid)):
        call = thread_syscall(pid, tid)
        if call is not None and call[0] == RECVMMSG:
            readers.setdefault(int(call[1][0], 16), set()).add(tid)
    return readers


def steal_fd(pid, fd):
    """A descriptor of our own for process pid's fd (pidfd_getfd: the same
    open file, its flags shared), or fail."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        ours = libc.syscall(PIDFD_GETFD, pidfd, fd, 0)
    finally:
        os.close(pidfd)
    expect(ours >= 0, "pidfd_getfd of descriptor %d" % fd, ">= 0",
           os.strerror(ctypes.get_errno()))
    return ours
