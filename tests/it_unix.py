#!/usr/bin/env python3
"""Integration: a unix listener's socket file -- a live server's is never
taken, a stale one is replaced under PATH.lock, and at exit upcased
removes only the file it bound."""
import fcntl
import os
import signal
import socket
import subprocess
import tempfile
import time

from itlib import (Daemon, TestFailure, UPCASED, WRAPPER, connect, expect,
                   recv_exactly, run_tests, SLOW)


def start(path, *args):
    return subprocess.Popen(WRAPPER + [UPCASED, "-l", "unix:" + path] +
                            list(args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(p, timeout=20):
    try:
        err = p.communicate(timeout=timeout * SLOW)[1].decode()
    except subprocess.TimeoutExpired:
        p.kill()
        err = p.communicate()[1].decode()
        raise TestFailure("the second upcased did not exit within %.0f s; "
                           "its log:\n%s" % (timeout * SLOW, err))
    return p.returncode, err


def hello(path):
    s = connect("unix:" + path)
    s.sendall(b"hi")
    got = recv_exactly(s, 2)
    s.close()
    return got


def test_live_server_with_a_full_backlog():
    # The first server holds its one connection and has stopped accepting,
    # so its backlog fills: a blocking probe would sleep there for ever
    # (and SIGTERM could not stop it).  The second server must see a live
    # server at once.
    with tempfile.TemporaryDirectory() as tmp:
        path = tmp + "/u.sock"
        with Daemon("--threads", "1", "--max-conns", "1", "--backlog", "1",
                    listen=("unix:" + path,)) as a:
            held = [connect(a.addr)]
            a.wait_log(r"max_conns \(1\) reached")
            for _ in range(64):
                c = socket.socket(socket.AF_UNIX)
                c.setblocking(False)
                try:
                    c.connect(path)
                except BlockingIOError:
                    c.close()
                    break
                held.append(c)
            else:
                raise TestFailure("the backlog never filled")
            rc, err = finish(start(path))
            want = "a server is already listening on " + path
            expect(rc == 1 and want in err, "second server on a live, "
                   "full socket", (1, want), (rc, err))
            for c in held:
                c.close()
            a.stop()


def test_exit_leaves_a_successors_file():
    # Someone else's socket now sits at the path (a successor that bound
    # it): upcased's exit must remove only the file it bound itself.
    with tempfile.TemporaryDirectory() as tmp:
        path = tmp + "/u.sock"
        with Daemon(listen=("unix:" + path,)) as a:
            expect(hello(path) == b"HI", "served on the unix socket")
            expect(not os.path.exists(path + ".lock"), "no lock file left "
                   "after start-up", "absent", os.listdir(tmp))
            os.unlink(path)
            other = socket.socket(socket.AF_UNIX)
            other.bind(path)
            other.listen(1)
            ino = os.stat(path).st_ino
            a.stop()
        expect(os.path.exists(path) and os.stat(path).st_ino == ino,
               "the successor's socket file after upcased's exit",
               "still there", os.listdir(tmp))
        expect(not os.path.exists(path + ".lock"), "no lock file left "
               "after exit", "absent", os.listdir(tmp))
        c = socket.socket(socket.AF_UNIX)
        c.connect(path)
        c.close()
        other.close()


def test_exit_removes_its_own_file():
    with tempfile.TemporaryDirectory() as tmp:
        path = tmp + "/u.sock"
        with Daemon(listen=("unix:" + path,)) as a:
            expect(hello(path) == b"HI", "served on the unix socket")
            a.stop()
        expect(os.listdir(tmp) == [], "files left after exit", [],
               os.listdir(tmp))


def _holds_open(pid, target):
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith(target):
                return True
        except OSError:
            pass
    return False


def test_stale_file_replaced_under_the_lock():
    # Two servers that both find a stale file: the one that holds
    # PATH.lock replaces it; the other waits for the lock, then finds a
    # live server.  The test plays the first one.
    with tempfile.TemporaryDirectory() as tmp:
        path = tmp + "/u.sock"
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)
        stale.close()
        lock = open(path + ".lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        b = start(path)
        deadline = time.monotonic() + 20 * SLOW
        while not _holds_open(b.pid, path + ".lock"):
            if b.poll() is not None or time.monotonic() > deadline:
                rc, err = finish(b)
                raise TestFailure("upcased went on without waiting for "
                                   "%s.lock (status %s); its log:\n%s" %
                                   (path, rc, err))
            time.sleep(0.005)
        os.unlink(path)
        mine = socket.socket(socket.AF_UNIX)
        mine.bind(path)
        mine.listen(8)
        ino = os.stat(path).st_ino
        os.unlink(path + ".lock")
        lock.close()
        rc, err = finish(b)
        want = "a server is already listening on " + path
        expect(rc == 1 and want in err, "the second server after the lock",
               (1, want), (rc, err))
        expect(os.stat(path).st_ino == ino, "the live socket file kept")
        mine.close()


def test_waiting_for_the_lock_is_bounded():
    # A lock held for good (a server stopped mid start-up) is an error
    # after a few seconds, not a hang.
    with tempfile.TemporaryDirectory() as tmp:
        path = tmp + "/u.sock"
        lock = open(path + ".lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        b = start(path)
        rc, err = finish(b, timeout=30)
        want = path + ".lock is held by another process"
        expect(rc == 1 and want in err, "start-up while the lock is held",
               (1, want), (rc, err))
        lock.close()


if __name__ == "__main__":
    run_tests([
        test_live_server_with_a_full_backlog,
        test_exit_leaves_a_successors_file,
        test_exit_removes_its_own_file,
        test_stale_file_replaced_under_the_lock,
        test_waiting_for_the_lock_is_bounded,
    ])
