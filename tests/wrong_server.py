#!/usr/bin/env python3
"""wrong_server: a deliberately broken upcased, for testing that bench
notices.  Usage: wrong_server.py MODE [ADDR]; prints 'listening on ADDR'
on stdout once ready and serves until killed.

Modes:
  lower   uppercases everything except the first lowercase letter of each
          read: same length, one wrong byte
  hangup  reads the first chunk of each connection, then closes it
  stall   reads and discards, never answers
  short   answers all but the last byte of the first chunk, then closes
  extra   answers each chunk correctly plus one byte nobody asked for
  pause   answers correctly, but 0.5 s after the first bytes arrive the
          whole server freezes for 1 s (a stall, as in a long GC pause)

UDP modes (listening on udp:HOST:PORT):
  udp-drop10    answers every datagram but each 10th it receives, and
                prints 'dropped N' (the count so far) for each it drops
  udp-corrupt   leaves the first lowercase letter of each datagram as is
  udp-dup       answers each datagram twice
  udp-silent    never answers
  udp-reorder   answers in pairs, the second datagram's reply first (a
                lone datagram is answered after 20 ms)
"""
import selectors
import socket
import sys
import time

_UPPER = bytes(c - 32 if 97 <= c <= 122 else c for c in range(256))


def transform(mode, data):
    """What the server sends back for one read, and whether to close."""
    up = data.translate(_UPPER)
    if mode == "lower":
        for i, c in enumerate(data):
            if 97 <= c <= 122:
                return up[:i] + data[i:i + 1] + up[i + 1:], False
        return up, False
    if mode == "hangup":
        return b"", True
    if mode == "stall":
        return b"", False
    if mode == "short":
        return up[:-1], True
    if mode == "extra":
        return up + b"!", False
    if mode == "pause":
        return up, False
    raise SystemExit("wrong_server: unknown mode %r" % mode)


UDP_MODES = ("udp-drop10", "udp-corrupt", "udp-dup", "udp-silent",
             "udp-reorder")


def serve_udp(mode, host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    print("listening on udp:%s:%d" % s.getsockname(), flush=True)
    received = dropped = 0
    held = None     # udp-reorder: (reply, peer) waiting for its pair
    while True:
        s.settimeout(0.02 if held else None)
        try:
            data, peer = s.recvfrom(65536)
        except socket.timeout:
            s.sendto(held[0], held[1])
            held = None
            continue
        received += 1
        up, _ = transform("lower" if mode == "udp-corrupt" else "pause", data)
        if mode == "udp-silent":
            continue
        if mode == "udp-drop10" and received % 10 == 0:
            dropped += 1
            print("dropped %d" % dropped, flush=True)
            continue
        if mode == "udp-reorder":
            if held is None:
                held = (up, peer)
                continue
            s.sendto(up, peer)
            s.sendto(held[0], held[1])
            held = None
            continue
        s.sendto(up, peer)
        if mode == "udp-dup":
            s.sendto(up, peer)


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    mode = sys.argv[1]
    host, port = (sys.argv[2].rsplit(":", 1) if len(sys.argv) == 3
                  else ("127.0.0.1", "0"))
    if mode in UDP_MODES:
        serve_udp(mode, host, port)
        return
    transform(mode, b"")    # reject an unknown mode before listening
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((host, int(port)))
    lsock.listen(1024)
    lsock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ)
    print("listening on %s:%d" % lsock.getsockname(), flush=True)

    pending = {}    # socket -> bytes not yet written
    first_data = None
    paused = False

    def close(s):
        sel.unregister(s)
        pending.pop(s, None)
        s.close()

    while True:
        if mode == "pause" and first_data is not None and not paused and \
                time.monotonic() - first_data >= 0.5:
            paused = True
            time.sleep(1.0)
        for key, events in sel.select(timeout=0.05):
            s = key.fileobj
            if s is lsock:
                try:
                    c, _ = lsock.accept()
                except OSError:
                    continue
                c.setblocking(False)
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(c, selectors.EVENT_READ)
                pending[c] = b""
                continue
            if events & selectors.EVENT_READ:
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    close(s)
                    continue
                if not data:
                    close(s)
                    continue
                if first_data is None:
                    first_data = time.monotonic()
                out, done = transform(mode, data)
                pending[s] += out
                if done:
                    # Best effort: what fits now goes, then the close.
                    try:
                        s.send(pending[s])
                    except OSError:
                        pass
                    close(s)
                    continue
            if pending.get(s):
                try:
                    n = s.send(pending[s])
                    pending[s] = pending[s][n:]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    close(s)
                    continue
            if s in pending:
                want = selectors.EVENT_READ
                if pending[s]:
                    want |= selectors.EVENT_WRITE
                sel.modify(s, want)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
