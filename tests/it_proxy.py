#!/usr/bin/env python3
"""it_proxy: proxy_protocol listeners on the real upcased, driven by hand
with the headers haproxy sends: the header consumed and never echoed, the
bytes after it served, the header's client in the -v log; bad, truncated,
oversized, missing and late headers closed and counted (proxy_errors);
only proxy_from may send a header; a health check (LOCAL, UNKNOWN, or a
header naming its own sender) is not held against allow; a plain listener next to it is untouched; the keys
reload."""
import os
import re
import signal
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from itlib import (Daemon, connect, expect, recv_until_eof,  # noqa: E402
                   run_tests, wait_stats)
from edgelib import (connect_from, expect_served, host_port, logged,  # noqa: E402
                     proxy_v1, proxy_v2, refused)

PROXY_LISTEN = "127.0.0.1:0 proxy_protocol"


def test_v2_header_consumed_and_client_logged():
    with Daemon("-v", listen=(PROXY_LISTEN,)) as d:
        dst = host_port(d.addr)
        s = connect(d.addr)
        me = s.getsockname()
        s.sendall(proxy_v2(("203.0.113.7", 5555), dst) + b"hello")
        got = s.recv(100)
        expect(got == b"HELLO", "the bytes after the header, served", b"HELLO",
               got)
        expect_served(s, b"more")
        s.close()
        d.wait_log(r" debug open 203\.0\.113\.7:5555 via 127\.0\.0\.1:%d$" %
                   me[1])
        d.wait_log(r" debug close 203\.0\.113\.7:5555 in=9 out=9 reason=eof$")
        st = d.stats()
        expect(st["proxy_errors"] == 0 and st["bytes_in"] == 9,
               "the header is not data", "proxy_errors=0 bytes_in=9", st)
        d.stop()


def test_v1_split_and_ipv6_client():
    with Daemon("-v", listen=(PROXY_LISTEN,)) as d:
        dst = host_port(d.addr)
        s = connect(d.addr)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        hdr = proxy_v1(("2001:db8::7", 4000), ("2001:db8::1", dst[1]))
        for i in range(0, len(hdr), 7):  # segments of 7 bytes
            s.sendall(hdr[i:i + 7])
        expect_served(s, b"split")
        s.close()
        d.wait_log(r" debug open \[2001:db8::7\]:4000 via 127\.0\.0\.1:\d+$")
        # An IPv4 client written as IPv6 by the balancer is IPv4 here.
        s = connect(d.addr)
        s.sendall(proxy_v2(("::ffff:198.51.100.7", 6000), ("::1", 80)))
        expect_served(s, b"mapped")
        s.close()
        d.wait_log(r" debug open 198\.51\.100\.7:6000 via 127\.0\.0\.1:\d+$")
        d.stop()


BAD = [
    ("no header at all", b"hello\n", r"not a PROXY protocol header"),
    ("malformed v1", b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n",
     r"invalid TCP4 address or port"),
    ("v1 without CRLF", b"PROXY UNKNOWN " + b"x" * 100, r"no CRLF within 107"),
    ("oversized v2", proxy_v2(("10.0.0.1", 1), ("10.0.0.2", 2),
                              b"\x04" + (5000).to_bytes(2, "big") +
                              b"\0" * 5000), r"5031-byte header is over"),
    ("v2 bad command", proxy_v2(None, None)[:12] + b"\x23\x11\x00\x00",
     r"command 0x3"),
]


def test_bad_headers_closed_and_counted():
    with Daemon("-v", listen=(PROXY_LISTEN,)) as d:
        for what, data, why in BAD:
            s = connect(d.addr)
            try:
                s.sendall(data)
                got = recv_until_eof(s)
            except ConnectionResetError:
                got = b""
            s.close()
            expect(got == b"", "%s: closed, nothing echoed" % what, b"", got)
            d.wait_log(r" debug proxy 127\.0\.0\.1:\d+: .*%s" % why)
        # Truncated: the connection ends mid-header; missing: it ends
        # before sending anything.
        for part in (b"PROXY TCP4 1.2.", b""):
            s = connect(d.addr)
            s.sendall(part)
            s.shutdown(socket.SHUT_WR)
            expect(recv_until_eof(s) == b"", "closed")
            s.close()
        d.wait_log(r"closed mid-way before a complete PROXY header")
        d.wait_log(r"proxy 127\.0\.0\.1:\d+: closed before a complete PROXY")
        n = len(BAD) + 2
        st = wait_stats(d, lambda st: st["proxy_errors"] == n,
                        "every bad header counted")
        expect(st["conns_total"] == 0 and st["bytes_out"] == 0 and
               st["rejected"] == n, "none was served",
               "conns_total=0 bytes_out=0 rejected=%d" % n, st)
        d.stop()


def test_proxy_timeout_is_a_deadline():
    with Daemon("-v", "--proxy-timeout", "0.5", listen=(PROXY_LISTEN,)) as d:
        s = connect(d.addr)
        s.sendall(b"PROXY TCP4 ")
        # Dribbling does not buy time: the deadline runs from the accept.
        # A byte every 0.1 s would take 1.7 s; it is closed before.  (No
        # assertion on how long that took: only that it is closed.)
        s.settimeout(0.1)
        try:
            for c in b"1.2.3.4 5.6.7.8 1":
                s.send(bytes([c]))
                try:
                    if s.recv(1) == b"":
                        break
                except socket.timeout:
                    pass
        except (ConnectionResetError, BrokenPipeError):
            pass
        expect(recv_until_eof(s, timeout=20) == b"", "closed at the deadline")
        s.close()
        d.wait_log(r" debug proxy 127\.0\.0\.1:\d+: no complete PROXY header "
                   r"in time \(proxy_timeout\)$")
        expect(d.stats()["proxy_errors"] == 1, "counted")
        d.stop()


def test_only_proxy_from_may_send_a_header():
    with Daemon("-v", "--proxy-from", "127.0.0.2", "--proxy-from",
                "10.0.0.0/8", listen=(PROXY_LISTEN,)) as d:
        dst = host_port(d.addr)
        s = connect_from("127.0.0.1", dst)
        port = s.getsockname()[1]
        expect(refused(s, proxy_v2(("203.0.113.7", 1), dst) + b"x"),
               "a sender outside proxy_from is refused")
        s.close()
        d.wait_log(r" debug refused 127\.0\.0\.1:%d: not in proxy_from$" % port)
        s = connect_from("127.0.0.2", dst)
        s.sendall(proxy_v2(("203.0.113.7", 1), dst))
        expect_served(s)
        s.close()
        d.wait_log(r" debug open 203\.0\.113\.7:1 via 127\.0\.0\.2:\d+$")
        st = d.stats()
        expect(st["proxy_errors"] == 1 and st["conns_total"] == 1,
               "the refusal counted as proxy", "proxy_errors=1 conns_total=1",
               st)
        d.stop()


def test_health_checks_skip_allow():
    # allow names the clients; the balancer (127.0.0.1) is not one of
    # them, yet its health checks (v2 LOCAL, v1 UNKNOWN) are served.
    with Daemon("-v", "--allow", "203.0.113.0/24", "--proxy-from",
                "127.0.0.1", listen=(PROXY_LISTEN,)) as d:
        dst = host_port(d.addr)
        for hdr, tag in ((proxy_v2(None, None), "LOCAL"),
                         (proxy_v1(None, None), "UNKNOWN")):
            s = connect(d.addr)
            s.sendall(hdr)
            expect_served(s, b"check")
            s.close()
            d.wait_log(r" debug open 127\.0\.0\.1:\d+ \(PROXY %s\)$" % tag)
        # haproxy's v1 checks name the check's own address and port.
        s = connect(d.addr)
        s.sendall(proxy_v1(s.getsockname(), dst))
        expect_served(s, b"check")
        s.close()
        d.wait_log(r" debug open 127\.0\.0\.1:\d+ \(PROXY self\)$")
        s = connect(d.addr)
        expect(refused(s, proxy_v2(("198.51.100.1", 9), dst)),
               "a client outside allow, named by the header, is refused")
        s.close()
        d.wait_log(r" debug refused 198\.51\.100\.1:9 via 127\.0\.0\.1:\d+: acl$")
        s = connect(d.addr)
        s.sendall(proxy_v1(("203.0.113.9", 9), dst))
        expect_served(s)
        s.close()
        st = d.stats()
        expect(st["rejected_acl"] == 1 and st["proxy_errors"] == 0,
               "counted as acl", "rejected_acl=1 proxy_errors=0", st)
        d.stop()


def test_plain_listener_next_to_it_echoes_everything():
    with Daemon(listen=(PROXY_LISTEN, "127.0.0.1:0")) as d:
        plain = d.addrs[1]
        hdr = proxy_v1(("1.2.3.4", 1), ("5.6.7.8", 2))
        s = connect(plain)
        s.sendall(hdr)
        got = b""
        while len(got) < len(hdr):
            got += s.recv(200)
        expect(got == hdr.upper(), "a PROXY line is data on a plain listener",
               hdr.upper(), got)
        s.close()
        d.stop()


def bench(*args):
    import subprocess
    from itlib import UPCASE, SLOW
    p = subprocess.run([UPCASE, "bench", "-q", "--json"] + list(args),
                       capture_output=True, text=True, timeout=120 * SLOW)
    import json
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else {}), \
        p.stderr


def test_bench_send_proxy():
    # upcase bench speaks PROXY too: every connection starts with a
    # header, naming our address or, with --proxy-source, the range's
    # n-th one; max_conns_per_ip then sees those addresses.
    with Daemon("-v", "--max-conns-per-ip", "1", listen=(PROXY_LISTEN,)) as d:
        for v in ("v1", "v2"):
            rc, out, err = bench("-c", "4", "-n", "400", "--send-proxy", v,
                                 "--proxy-source", "10.9.0.0/30", d.addr)
            expect(rc == 0 and out.get("errors") == 0 and
                   out.get("messages") >= 400, "bench --send-proxy %s, "
                   "four clients of one connection each" % v, 0,
                   (rc, out.get("errors"), err))
        for ip in ("10.9.0.0", "10.9.0.1", "10.9.0.2", "10.9.0.3"):
            logged(d, r" debug open %s:\d+ via 127\.0\.0\.1:\d+$" %
                   re.escape(ip))
        # Four connections from two addresses: two are over the limit.
        rc, out, err = bench("-c", "4", "-d", "1", "--send-proxy", "v2",
                             "--proxy-source", "10.9.0.0/31", d.addr)
        expect(rc == 3 and out["errors_by_kind"]["reset"] +
               out["errors_by_kind"]["close"] == 2, "two connections "
               "refused", 2, (rc, out.get("errors_by_kind"), err))
        st = d.stats()
        expect(st["rejected_per_ip"] == 2 and st["proxy_errors"] == 0,
               "counted per address", "rejected_per_ip=2", st)
        d.stop()
    # Without --send-proxy a proxy listener refuses bench's connections.
    with Daemon(listen=(PROXY_LISTEN,)) as d:
        rc, out, err = bench("-c", "1", "-n", "1", d.addr)
        expect(rc == 3 and d.stats()["proxy_errors"] == 1, "no header: "
               "refused", 3, (rc, err))
        d.stop()


def test_check_config_and_reload():
    tmp = tempfile.TemporaryDirectory()
    path = os.path.join(tmp.name, "upcased.conf")
    base = "listen = %s\nlog_level = debug\n" % PROXY_LISTEN
    with open(path, "w") as f:
        f.write(base + "proxy_from = 127.0.0.2\nproxy_timeout = 2\n")
    try:
        with Daemon("-c", path, listen=(), expect_listeners=1) as d:
            dst = host_port(d.addr)
            expect(refused(connect_from("127.0.0.1", dst)),
                   "refused before the reload")
            with open(path, "w") as f:
                f.write(base + "proxy_from = 127.0.0.0/8\n")
            d.signal(signal.SIGHUP)
            m = d.wait_log(r" notice reloaded ")
            expect("changed proxy_timeout, proxy_from" in m.string,
                   "the reload names the keys", "changed proxy_timeout, "
                   "proxy_from", m.string)
            s = connect_from("127.0.0.1", dst)
            s.sendall(proxy_v1(("203.0.113.1", 7), dst))
            expect_served(s)
            s.close()
            d.stop()
    finally:
        tmp.cleanup()
    import subprocess
    from itlib import UPCASED
    out = subprocess.run([UPCASED, "--check-config", "-l",
                          "127.0.0.1:1 proxy_protocol reuseport",
                          "--proxy-from", "10.0.0.5"], capture_output=True,
                         text=True, timeout=30)
    expect(out.returncode == 0 and re.search(
        r"^listen = 127\.0\.0\.1:1 reuseport proxy_protocol$", out.stdout,
        re.M) and "proxy_from = 10.0.0.5\n" in out.stdout,
        "--check-config prints the option and the key", None, out.stdout)
    out = subprocess.run([UPCASED, "--check-config", "-l",
                          "udp:127.0.0.1:1 proxy_protocol"],
                         capture_output=True, text=True, timeout=30)
    expect(out.returncode == 2 and "'proxy_protocol' is not for udp: "
           "listeners" in out.stderr, "refused on udp:", None, out)


if __name__ == "__main__":
    run_tests([
        test_v2_header_consumed_and_client_logged,
        test_v1_split_and_ipv6_client,
        test_bad_headers_closed_and_counted,
        test_proxy_timeout_is_a_deadline,
        test_only_proxy_from_may_send_a_header,
        test_health_checks_skip_allow,
        test_plain_listener_next_to_it_echoes_everything,
        test_bench_send_proxy,
        test_check_config_and_reload,
    ])
