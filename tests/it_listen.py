#!/usr/bin/env python3
"""it_listen: listen options on the real upcased: unix socket permissions
and owner applied before anyone can connect, SO_REUSEPORT shared by two
processes, and bad options refused."""
import os
import shutil
import pwd
import grp
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (Daemon, UPCASED, SLOW, connect, expect, recv_exactly,  # noqa: E402
                   run_tests)

NOBODY = pwd.getpwnam("nobody")
ROOT = os.geteuid() == 0


def as_nobody_exchange(path):
    """Exchange over a unix socket as uid nobody, with netcat-openbsd (a
    program nobody can run, wherever this Python lives); return (ok,
    output or error)."""
    p = subprocess.run(["nc", "-N", "-U", path], input=b"hi nobody",
                       user=NOBODY.pw_uid, group=NOBODY.pw_gid,
                       extra_groups=[], capture_output=True,
                       timeout=20 * SLOW)
    return (p.returncode == 0,
            (p.stdout if p.returncode == 0 else p.stderr).decode().strip())


def world_dir():
    d = tempfile.mkdtemp(prefix="it_listen.")
    os.chmod(d, 0o755)  # nobody may reach the socket file inside
    return d


def test_unix_mode_lets_nobody_in():
    if not ROOT:
        print("# skipped: needs root to run a client as nobody")
        return
    d = world_dir()
    path = os.path.join(d, "u.sock")
    # Under root's usual umask the file is 0755 and nobody is refused;
    # mode=0666 must be in place before the socket accepts anyone.
    old = os.umask(0o022)
    try:
        with Daemon(listen=("unix:%s mode=0666" % path,)) as dmn:
            expect(dmn.addr == "unix:" + path,
                   "'listening on' shows the address without its options",
                   "unix:" + path, dmn.addr)
            mode = stat.S_IMODE(os.stat(path).st_mode)
            expect(mode == 0o666, "socket file mode", "0o666", oct(mode))
            ok, out = as_nobody_exchange(path)
            expect(ok and out == "HI NOBODY", "nobody's exchange", "HI NOBODY",
                   out)
            dmn.stop()
        with Daemon(listen=("unix:" + path,)) as dmn:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            expect(mode == 0o755, "without mode=, the umask's mode", "0o755",
                   oct(mode))
            ok, out = as_nobody_exchange(path)
            expect(not ok and "Permission denied" in out,
                   "nobody refused without mode=", "Permission denied", out)
            dmn.stop()
    finally:
        os.umask(old)
        shutil.rmtree(d)


def test_unix_owner_and_group():
    if not ROOT:
        print("# skipped: needs root to chown")
        return
    d = world_dir()
    path = os.path.join(d, "u.sock")
    group = grp.getgrgid(NOBODY.pw_gid).gr_name
    try:
        with Daemon(listen=("unix:%s owner=nobody group=%s mode=0660" %
                            (path, group),)) as dmn:
            st = os.stat(path)
            expect((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) ==
                   (NOBODY.pw_uid, NOBODY.pw_gid, 0o660),
                   "socket file owner, group and mode",
                   (NOBODY.pw_uid, NOBODY.pw_gid, 0o660),
                   (st.st_uid, st.st_gid, oct(stat.S_IMODE(st.st_mode))))
            ok, out = as_nobody_exchange(path)
            expect(ok and out == "HI NOBODY", "the owner's exchange",
                   "HI NOBODY", out)
            dmn.stop()
        expect(not os.path.exists(path), "socket file removed at exit",
               False, True)
    finally:
        shutil.rmtree(d)


def served_by(daemons, addr, want_each=1, limit=400):
    """Connect and exchange until each daemon logged want_each opens."""
    counts = [0] * len(daemons)
    deadline = time.monotonic() + 20 * SLOW
    for _ in range(limit):
        s = connect(addr)
        s.sendall(b"abc")
        expect(recv_exactly(s, 3) == b"ABC", "reply through a shared port")
        s.close()
        counts = [sum(" open " in ln for ln in d.lines) for d in daemons]
        if min(counts) >= want_each or time.monotonic() > deadline:
            break
    return counts


def test_reuseport_two_processes_share_a_port():
    with Daemon("-v", "--threads", "1",
                listen=("127.0.0.1:0 reuseport",)) as a:
        port = a.addr.rsplit(":", 1)[1]
        with Daemon("-v", "--threads", "1",
                    listen=("127.0.0.1:%s reuseport" % port,)) as b:
            expect(b.addr == a.addr, "both listening on one port", a.addr,
                   b.addr)
            counts = served_by([a, b], a.addr)
            expect(min(counts) >= 1, "connections accepted by each process",
                   ">= 1 each", counts)
            b.stop()
        a.stop()


def test_without_reuseport_the_port_is_taken():
    with Daemon(listen=("127.0.0.1:0",)) as a:
        p = subprocess.run([UPCASED, "-l", a.addr], capture_output=True,
                           timeout=20 * SLOW)
        err = p.stderr.decode()
        expect(p.returncode == 1 and "Address already in use" in err,
               "a second process without reuseport", "exit 1, in use",
               (p.returncode, err))
        a.stop()


def test_without_reuseport_the_udp_port_is_taken():
    # The same for UDP, where SO_REUSEADDR alone would let a second
    # process bind the port and take datagrams meant for the first; and
    # at two threads, whose sockets share the port among themselves.
    with Daemon("--threads", "2", listen=("udp:127.0.0.1:0",)) as a:
        p = subprocess.run([UPCASED, "--threads", "2", "-l", a.addr],
                           capture_output=True, timeout=20 * SLOW)
        err = p.stderr.decode()
        expect(p.returncode == 1 and "cannot listen on %s: Address already "
               "in use" % a.addr in err,
               "a second process without reuseport on a udp: port",
               "exit 1, in use", (p.returncode, err))
        a.stop()


def test_reuseport_udp():
    with Daemon(listen=("udp:127.0.0.1:0 reuseport",)) as a:
        port = a.addr.rsplit(":", 1)[1]
        with Daemon(listen=("udp:127.0.0.1:%s reuseport" % port,)) as b:
            expect(b.addr == a.addr, "both on one udp port", a.addr, b.addr)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(5 * SLOW)
            s.sendto(b"dgram", ("127.0.0.1", int(port)))
            expect(s.recvfrom(64)[0] == b"DGRAM", "udp reply on a shared port")
            s.close()
            b.stop()
        a.stop()


def test_bad_options_exit_2():
    cases = [
        ("127.0.0.1:0 bogus", "-l: unknown listen option 'bogus'"),
        ("127.0.0.1:0 mode=0600", "listen option 'mode' is not for TCP"),
        ("unix:/tmp/it listen.sock", "a unix path cannot contain a blank"),
        ("unix:/tmp/x.sock mode=9", "invalid value '9'"),
        ("unix:/tmp/x.sock owner=no-such-user-here", "unknown user"),
    ]
    for value, want in cases:
        p = subprocess.run([UPCASED, "-l", value], capture_output=True,
                           timeout=20 * SLOW)
        err = p.stderr.decode()
        expect(p.returncode == 2 and want in err, "upcased -l %r" % value,
               (2, want), (p.returncode, err))


def test_check_config_prints_options():
    p = subprocess.run([UPCASED, "--check-config", "-l",
                        "unix:/tmp/x.sock group=0  mode=0600", "-l",
                        "127.0.0.1:0 reuseport"], capture_output=True,
                       timeout=20 * SLOW)
    out = p.stdout.decode()
    expect(p.returncode == 0 and
           "listen = unix:/tmp/x.sock mode=0600 group=0\n" in out and
           "listen = 127.0.0.1:0 reuseport\n" in out,
           "--check-config shows each listener's options", None, out)


if __name__ == "__main__":
    run_tests([
        test_unix_mode_lets_nobody_in,
        test_unix_owner_and_group,
        test_reuseport_two_processes_share_a_port,
        test_without_reuseport_the_port_is_taken,
        test_without_reuseport_the_udp_port_is_taken,
        test_reuseport_udp,
        test_bad_options_exit_2,
        test_check_config_prints_options,
    ])
