#!/usr/bin/env python3
"""it_faults: upcased behind a real, faulty network path.

upcased runs in a network namespace of its own; the host reaches it over
a veth pair (10.77.S.0/24) and over a userspace impairment link between
two TUN devices (10.78.S.0/24, tests/impair_link.py), S being a slot this
run holds a lock on, so that concurrent runs never share a name or a
subnet.  Each phase opens its connections first -- `upcase bench` (4
connections, 4 KiB messages, pipeline 2, -t 30), one `upcase` in pipe
mode fed a line every 50 ms, and `upcase bench udp:` (100 datagrams a
second) -- then applies one fault for a while, removes it, and lets the
traffic run on:

  loss       5% random loss both ways (netem, or nftables' numgen)
  blackout   every packet dropped both ways for 2 s (nftables, or netem)
  rate       a 2 Mbit/s cap with up to 100 ms of queue both ways (tbf)
  impair     20 +- 10 ms delay, 10% held back 25 ms more (reordering),
             5% duplicated (netem, or the impairment link)

Over TCP every reply byte must be right and no connection lost: bench and
upcase exit 0 with no error, and upcased counts exactly the connections
opened, none reset or timed out.  Over UDP every reply must be the
uppercase of its datagram; loss and duplicates are counted, and must
show where the fault makes them (the fault was really there).  Every
wait is bounded; the namespace, its nft table and the devices are
removed at the end, also after a failure, and the leftovers of a killed
run are removed before a slot is used.  Needs root (exit 77, a skip,
where a namespace cannot be created)."""
import ctypes
import fcntl
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (Daemon, SLOW, TestFailure, UPCASE, bupper,  # noqa: E402
                   expect, run_tests, wait_stats)

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77
LOCKS = "/run/lock" if os.path.isdir("/run/lock") else "/tmp"
IMPAIR = dict(delay_ms=20, jitter_ms=10, reorder_pct=10, reorder_ms=25,
              dup_pct=5)


def sh(*argv, check=True, timeout=30):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise TestFailure("%s: exit %d: %s" % (" ".join(argv), p.returncode,
                                               p.stderr.decode().strip()))
    return p


class Net:
    """The namespace, its two paths and the faults; `with` removes it all."""

    def __init__(self):
        self.remove_leftovers()
        self.lock, self.slot = self._take_slot()
        self._names(self.slot)
        self.link = None
        self.remove()		# what a killed run on this slot left

    def _names(self, s):
        self.ns = "upcf%d" % s
        self.veth = ("upcf%da" % s, "upcf%db" % s)	# host, namespace
        self.tun = ("upcf%dt" % s, "upcf%du" % s)
        self.host_ip, self.ns_ip = "10.77.%d.1" % s, "10.77.%d.2" % s
        self.tun_host_ip, self.tun_ns_ip = "10.78.%d.1" % s, "10.78.%d.2" % s

    @staticmethod
    def _lock(slot):
        """The slot's lock, held, or None if a running test holds it."""
        f = open(os.path.join(LOCKS, "upcased-faults.%d.lock" % slot), "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except OSError:
            f.close()
            return None

    @classmethod
    def _take_slot(cls):
        for s in range(1, 250):
            f = cls._lock(s)
            if f is not None:
                return f, s
        raise TestFailure("no free slot among 249 lock files in %s" % LOCKS)

    @classmethod
    def remove_leftovers(cls):
        """The namespaces of killed runs: those whose lock nobody holds."""
        out = sh("ip", "netns", "list", check=False).stdout.decode()
        for slot in re.findall(r"^upcf(\d+)\b", out, re.M):
            f = cls._lock(int(slot))
            if f is not None:
                n = cls.__new__(cls)
                n._names(int(slot))
                n.link = None
                n.remove()
                f.close()

    def nsx(self, *argv, **kw):
        return sh("ip", "netns", "exec", self.ns, *argv, **kw)

    def create(self):
        ns, (ha, nb), (ta, tb) = self.ns, self.veth, self.tun
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", ha, "type", "veth", "peer", "name", nb)
        sh("ip", "link", "set", nb, "netns", ns)
        sh("ip", "addr", "add", self.host_ip + "/24", "dev", ha)
        sh("ip", "link", "set", ha, "up")
        sh("ip", "-n", ns, "addr", "add", self.ns_ip + "/24", "dev", nb)
        sh("ip", "-n", ns, "link", "set", nb, "up")
        global HAVE_NETEM
        HAVE_NETEM = probe_netem(ha)
        if HAVE_NFT:
            self.nsx("nft", "add", "table", "inet", "upcf")
            for chain, hook in (("in", "input"), ("out", "output")):
                self.nsx("nft", "add chain inet upcf %s { type filter hook %s "
                         "priority 0; policy accept; }" % (chain, hook))
        if not HAVE_NETEM and HAVE_TUN:
            self._start_link(ta, tb)

    def _start_link(self, ta, tb):
        a = IMPAIR
        self.link = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "impair_link.py"), ta, tb,
             "--delay-ms", str(a["delay_ms"]), "--jitter-ms",
             str(a["jitter_ms"]), "--reorder-pct", str(a["reorder_pct"]),
             "--reorder-ms", str(a["reorder_ms"]), "--dup-pct",
             str(a["dup_pct"]), "--seed", str(self.slot)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            preexec_fn=die_with_us)
        line = self.link.stdout.readline()
        expect(line == b"ready\n", "the impairment link starts", b"ready\n",
               line)
        sh("ip", "link", "set", tb, "netns", self.ns)
        sh("ip", "addr", "add", self.tun_host_ip + "/24", "dev", ta)
        sh("ip", "link", "set", ta, "up")
        sh("ip", "-n", self.ns, "addr", "add", self.tun_ns_ip + "/24", "dev", tb)
        sh("ip", "-n", self.ns, "link", "set", tb, "up")

    def link_stats(self):
        """The impairment link's counters so far."""
        self.link.stdin.write(b"stats\n")
        self.link.stdin.flush()
        line = self.link.stdout.readline()
        return {k.decode(): int(v)
                for k, v in re.findall(rb"(\w+)=(\d+)", line)}

    def stop_link(self):
        if self.link is not None:
            self.link.stdin.close()
            try:
                self.link.wait(10)
            except subprocess.TimeoutExpired:
                self.link.kill()
                self.link.wait()
            self.link = None

    def remove(self):
        """Everything on this slot, whether or not it exists."""
        self.stop_link()
        p = sh("ip", "netns", "pids", self.ns, check=False)
        for pid in p.stdout.split():
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
        if HAVE_NFT:
            sh("ip", "netns", "exec", self.ns, "nft", "delete", "table",
               "inet", "upcf", check=False)
        sh("ip", "netns", "del", self.ns, check=False)
        for dev in (self.veth[0], self.tun[0]):
            sh("ip", "link", "del", dev, check=False)

    def __enter__(self):
        try:
            self.create()
        except BaseException:
            self.remove()
            self.lock.close()
            raise
        return self

    def __exit__(self, *exc):
        self.remove()
        self.lock.close()

    # --- faults: each apply returns a function that removes it and
    # returns the evidence that it was there (a count of what it did).
    def nft_drop(self, rule):
        for chain in ("in", "out"):
            self.nsx("nft", "add rule inet upcf %s %s counter drop" %
                     (chain, rule))

        def remove():
            out = self.nsx("nft", "list", "table", "inet", "upcf").stdout
            for chain in ("in", "out"):
                self.nsx("nft", "flush", "chain", "inet", "upcf", chain)
            return sum(int(n) for n in re.findall(rb"packets (\d+)", out))
        return remove

    def qdisc(self, *spec):
        """The same root qdisc on both ends of the veth pair."""
        sh("tc", "qdisc", "add", "dev", self.veth[0], "root", *spec)
        self.nsx("tc", "qdisc", "add", "dev", self.veth[1], "root", *spec)

        def remove():
            shown = (sh("tc", "-s", "qdisc", "show", "dev", self.veth[0]).stdout +
                     self.nsx("tc", "-s", "qdisc", "show", "dev",
                              self.veth[1]).stdout)
            sh("tc", "qdisc", "del", "dev", self.veth[0], "root")
            self.nsx("tc", "qdisc", "del", "dev", self.veth[1], "root")
            return shown.decode()
        return remove


def die_with_us():
    """preexec_fn: the child is killed if this test dies first (a
    killed run must not leave upcased running in its namespace)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)	# PR_SET_PDEATHSIG


def have(*argv):
    try:
        return subprocess.run(argv, capture_output=True, timeout=30,
                              stdin=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def probe_netem(dev):
    """Whether this kernel has the netem qdisc (tried on dev)."""
    if not have("tc", "qdisc", "add", "dev", dev, "root", "netem", "delay",
                "1ms"):
        return False
    have("tc", "qdisc", "del", "dev", dev, "root")
    return True


HAVE_NFT = shutil.which("nft") is not None
HAVE_TUN = os.path.exists("/dev/net/tun")
HAVE_NETEM = False	# probed on the veth pair once it exists


class PipeClient:
    """`upcase -t 30 ADDR` in pipe mode: a line every 50 ms until stop(),
    then EOF; everything it prints must be the uppercase of it all."""

    def __init__(self, addr):
        self.p = subprocess.Popen([UPCASE, "-t", "30", addr],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.sent = bytearray()
        self.out = b""
        self.stopping = threading.Event()
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.writer.start()
        self.reader.start()

    def _write(self):
        rng = random.Random(7)
        n = 0
        try:
            while not self.stopping.wait(0.05) and n < 2000:
                line = b"line %d %s\n" % (n, bytes(rng.choice(b"abcXYZ019 ")
                                                  for _ in range(80)))
                self.p.stdin.write(line)
                self.p.stdin.flush()
                self.sent += line
                n += 1
        except OSError:
            pass		# upcase exited: the check says why
        finally:
            try:
                self.p.stdin.close()
            except OSError:
                pass

    def _read(self):
        self.out = self.p.stdout.read()

    def finish(self):
        self.stopping.set()
        self.writer.join(10)
        try:
            rc = self.p.wait(timeout=60 * SLOW)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            rc = "killed after 60 s"
        self.reader.join(10)
        err = self.p.stderr.read().decode(errors="replace").strip()
        expect(rc == 0, "upcase (pipe mode) exit status", 0, (rc, err))
        expect(self.out == bupper(bytes(self.sent)), "upcase's replies",
               "%d bytes, uppercased" % len(self.sent),
               "%d bytes%s" % (len(self.out), "" if len(self.out) != len(
                   self.sent) else ", some wrong"))
        return len(self.sent)


def start_bench(addr, dur, *args):
    return subprocess.Popen(
        [UPCASE, "bench", "--json", "-q", "-T", "1", "-d", str(dur)] +
        list(args) + [addr], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def bench_json(p, d, t=30):
    try:
        out, err = p.communicate(timeout=(d + t + 30) * SLOW)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise TestFailure("upcase bench ran past -d %d + -t %d" % (d, t))
    line = out.decode().strip().splitlines()[-1:] or [""]
    try:
        return json.loads(line[0]), err.decode(errors="replace")
    except ValueError:
        raise TestFailure("no JSON from upcase bench (exit %d): %s" % (
            p.returncode, err.decode(errors="replace")[-500:]))


def phase(d, addr, udp_addr, hold, apply, conns=4):
    """Open the connections, apply the fault for `hold` seconds, remove it,
    let the traffic run on; check TCP and return the evidence."""
    before = d.stats()
    dur = hold + 6
    bench = start_bench(addr, dur, "-c", str(conns), "-s", "4096",
                        "--pipeline", "2", "-t", "30")
    # UDP: 100 datagrams a second on two sockets, sent on schedule
    # whatever is unanswered (a deep pipeline); a datagram unanswered
    # for 5 s is lost, a reply nobody waits for (a duplicate) is extra.
    udp = start_bench(udp_addr, dur, "-c", "2", "-s", "200", "--rate", "100",
                      "--pipeline", "512", "-t", "5", "--max-loss", "100")
    pipe = PipeClient(addr)
    try:
        wait_stats(d, lambda st: st["conns_now"] >=
                   before["conns_now"] + conns + 1,
                   "the phase's connections up")
        time.sleep(1)		# traffic before the fault
        remove = apply()
        try:
            time.sleep(hold)	# the fault's duration
        finally:
            evidence = remove()
    finally:
        pipe.stopping.set()
    j, err = bench_json(bench, dur)
    piped = pipe.finish()
    u, uerr = bench_json(udp, dur, t=5)
    k = u["errors_by_kind"]
    expect(k["mismatch"] == 0 and udp.returncode in (0, 4, 5),
           "UDP: every reply the uppercase of its datagram",
           "no mismatch", (udp.returncode, k, u["first_mismatch"],
                           uerr[-300:]))
    udps = dict(sent=u["messages"] + k["lost"], lost=k["lost"],
                dups=k["extra"])
    expect(bench.returncode == 0 and j["errors"] == 0,
           "bench: no error, every reply byte right", "exit 0, no errors",
           (bench.returncode, j["errors_by_kind"], j["first_mismatch"],
            err[-300:]))
    expect(j["connections"] == conns and j["connections_failed"] == 0,
           "bench: every connection kept", conns,
           (j["connections"], j["connections_failed"]))
    # The last closes may still be on their way through the path.
    after = wait_stats(d, lambda st: st["conns_now"] <= before["conns_now"],
                       "the phase's connections closed")
    delta = {k: after[k] - before[k] for k in after}
    expect(delta["conns_total"] == conns + 1 and after["conns_now"] ==
           before["conns_now"], "upcased: the phase's connections, no more, "
           "all closed", conns + 1, (delta["conns_total"], after["conns_now"]))
    bad = {k: delta[k] for k in ("resets", "idle_timeouts", "write_timeouts")}
    expect(not any(bad.values()), "upcased: no connection reset or timed out",
           "all 0", bad)
    print("#   tcp: %d messages, p50 %.1f ms, max %.1f ms; pipe %d bytes; "
          "udp: %d sent, %d lost, %d duplicated" % (
              j["messages"], j["latency_us"]["p50"] / 1e3,
              j["latency_us"]["max"] / 1e3, piped, udps["sent"],
              udps["lost"], udps["dups"]))
    return evidence, j, udps


NET = None
DAEMON = None


def target(tun=False):
    if tun:
        return DAEMON.addrs[2], DAEMON.addrs[3]
    return DAEMON.addrs[0], DAEMON.addrs[1]


def test_loss():
    tcp, udp = target()
    if HAVE_NETEM:
        apply = lambda: NET.qdisc("netem", "loss", "5%")
    else:
        apply = lambda: NET.nft_drop("numgen random mod 100 < 5")
    ev, j, u = phase(DAEMON, tcp, udp, 6, apply)
    dropped = (int(m) for m in re.findall(r"dropped (\d+)", ev)) \
        if isinstance(ev, str) else [ev]
    expect(sum(dropped) > 0, "packets dropped by the fault", "> 0", ev)
    expect(u["lost"] > 0, "UDP loss counted under 5% loss", "> 0", u)


def test_blackout():
    tcp, udp = target()
    if HAVE_NFT:
        apply = lambda: NET.nft_drop("")
    else:
        apply = lambda: NET.qdisc("netem", "loss", "100%")
    ev, j, u = phase(DAEMON, tcp, udp, 2, apply)
    expect(u["lost"] >= 50, "UDP datagrams lost in a 2 s blackout",
           ">= 50 (a datagram every 10 ms)", u)


def test_rate_cap():
    tcp, udp = target()
    ev, j, u = phase(DAEMON, tcp, udp, 6, lambda: NET.qdisc(
        "tbf", "rate", "2mbit", "burst", "8kb", "latency", "100ms"))
    over = sum(int(m) for m in re.findall(r"overlimits (\d+)", ev))
    expect(over > 0, "the rate cap was reached (tbf overlimits)", "> 0", ev)


def test_delay_jitter_reorder_duplicate():
    # The impairment loses nothing, so connections may open through it:
    # it is in place for the whole phase, and every round trip has it.
    remove = None
    if HAVE_NETEM:
        tcp, udp = target()
        a = IMPAIR
        remove = NET.qdisc(
            "netem", "delay", "%dms" % a["delay_ms"], "%dms" % a["jitter_ms"],
            "reorder", "%d%%" % a["reorder_pct"], "duplicate",
            "%d%%" % a["dup_pct"])
    elif NET.link is not None:
        tcp, udp = target(tun=True)
    else:
        print("# skip: no netem qdisc and no /dev/net/tun for the "
              "impairment link")
        return
    try:
        ev, j, u = phase(DAEMON, tcp, udp, 8, lambda: (lambda: None))
    finally:
        if remove is not None:
            remove()
    # Half the round trips at least take the delay both ways (netem's
    # reordering sends some packets at once, so not every one does).
    floor = 2 * (IMPAIR["delay_ms"] - IMPAIR["jitter_ms"])
    expect(j["latency_us"]["p50"] >= floor * 1000, "round trips delayed "
           "both ways", "p50 >= %d ms" % floor,
           "%.1f ms" % (j["latency_us"]["p50"] / 1e3))
    expect(u["dups"] > 0, "UDP duplicates counted", "> 0", u)
    if NET.link is not None:
        c = NET.link_stats()
        print("#   link: %s" % c)
        expect(c.get("reordered", 0) > 0 and c.get("duplicated", 0) > 0,
               "the link reordered and duplicated packets", "both > 0", c)


def test_served_after_the_faults():
    # Every fault gone: a fresh connection on each path is served.
    for tun in (False, True) if NET.link is not None else (False,):
        tcp, _ = target(tun)
        p = subprocess.run([UPCASE, "-t", "30", "-m", "after the faults",
                            tcp], capture_output=True, timeout=60 * SLOW)
        expect(p.returncode == 0 and p.stdout == b"AFTER THE FAULTS\n",
               "a new client on %s" % tcp, b"AFTER THE FAULTS\n",
               (p.returncode, p.stdout, p.stderr))


def main():
    global NET, DAEMON
    if os.geteuid() != 0:
        print("# skip: network namespaces need root")
        sys.exit(SKIP)
    if not have("ip", "netns", "list"):
        print("# skip: no ip netns here (iproute2)")
        sys.exit(SKIP)
    if not HAVE_NFT:
        print("not ok - nft not found (install nftables: scripts/deps)")
        sys.exit(1)
    try:
        NET = Net()
        NET.__enter__()
    except TestFailure as e:
        if NET is None or "netns add" in str(e):
            print("# skip: cannot create a network namespace: %s" % e)
            sys.exit(SKIP)
        raise
    print("# faults by: %s" % ("netem, nftables, tbf" if HAVE_NETEM else
                               "nftables, tbf, the impairment link" if HAVE_TUN
                               else "nftables, tbf (no /dev/net/tun)"))
    try:
        listen = [NET.ns_ip + ":0", "udp:%s:0" % NET.ns_ip]
        if NET.link is not None:
            listen += [NET.tun_ns_ip + ":0", "udp:%s:0" % NET.tun_ns_ip]
        with Daemon("--threads", "2", listen=listen, preexec_fn=die_with_us,
                    prefix=("ip", "netns", "exec", NET.ns)) as d:
            DAEMON = d
            try:
                run_tests([test_loss, test_blackout, test_rate_cap,
                           test_delay_jitter_reorder_duplicate,
                           test_served_after_the_faults])
            finally:
                d.stop()
    finally:
        NET.__exit__(None, None, None)


if __name__ == "__main__":
    main()
