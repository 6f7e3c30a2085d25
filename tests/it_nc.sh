#!/bin/sh
# Integration: upcased used the way a person would, with netcat-openbsd.
set -u
UPCASED=${UPCASED:-$(dirname "$0")/../src/upcased}
# A command to run upcased under, e.g. valgrind (as for the Python tests).
WRAPPER=${UPCASED_WRAPPER:-}
# Waits stretch under a wrapper, as in itlib.py.
if [ -n "$WRAPPER" ]; then SLOW=${SLOW:-10}; else SLOW=${SLOW:-1}; fi
command -v nc >/dev/null 2>&1 || { echo "SKIP: nc (netcat-openbsd) not installed"; exit 77; }

tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "not ok - $1"; echo "  expected: $2"; echo "  got:      $3"; }

: >"$tmp/log"	# exists before the wait loop greps it
$WRAPPER $UPCASED -l 127.0.0.1:0 -l udp:127.0.0.1:0 -l "unix:$tmp/u.sock" 2>"$tmp/log" &
pid=$!
# Wait (bounded) for the three listening lines.
i=0
while [ "$(grep -c 'listening on' "$tmp/log")" -lt 3 ]; do
	i=$((i + 1))
	[ $i -gt $((200 * SLOW)) ] && { echo "upcased did not start:"; cat "$tmp/log"; exit 1; }
	sleep 0.05
done
tcp=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$tmp/log")
udp=$(sed -n 's/.*listening on udp:127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/log")
port=${tcp##*:}

# One line, as in the seed.
got=$(printf 'hello\n' | nc -N 127.0.0.1 "$port")
[ "$got" = "HELLO" ] && ok "nc -N hello" || bad "nc -N hello" "HELLO" "$got"

# A text file through nc equals tr's uppercase of it; empty lines too.
printf 'first line\n\nMiXeD 123 case!\n\n\nlast\n' > "$tmp/in.txt"
nc -N 127.0.0.1 "$port" < "$tmp/in.txt" > "$tmp/out.txt"
tr a-z A-Z < "$tmp/in.txt" > "$tmp/want.txt"
cmp -s "$tmp/out.txt" "$tmp/want.txt" && ok "nc -N text file" ||
	bad "nc -N text file" "$(cat "$tmp/want.txt")" "$(cat "$tmp/out.txt")"

# A binary file, 2 MB: byte-exact (tr with a C locale maps only a-z).
head -c 2000000 /dev/urandom > "$tmp/in.bin"
nc -N 127.0.0.1 "$port" < "$tmp/in.bin" > "$tmp/out.bin"
LC_ALL=C tr a-z A-Z < "$tmp/in.bin" > "$tmp/want.bin"
cmp -s "$tmp/out.bin" "$tmp/want.bin" && ok "nc -N 2 MB binary" ||
	bad "nc -N 2 MB binary" "$(wc -c < "$tmp/want.bin") bytes, uppercased" \
	    "$(wc -c < "$tmp/out.bin") bytes, cmp: $(cmp "$tmp/out.bin" "$tmp/want.bin" 2>&1)"

# Unix socket.
got=$(printf 'over unix\n' | nc -N -U "$tmp/u.sock")
[ "$got" = "OVER UNIX" ] && ok "nc -U" || bad "nc -U" "OVER UNIX" "$got"

# UDP: one datagram, one reply (-w bounds nc's wait).
got=$(printf 'datagram' | nc -u -w $((2 * SLOW)) 127.0.0.1 "$udp")
[ "$got" = "DATAGRAM" ] && ok "nc -u" || bad "nc -u" "DATAGRAM" "$got"

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] && ok "exit 0 on SIGTERM" || bad "exit 0 on SIGTERM" 0 $rc
[ ! -e "$tmp/u.sock" ] && ok "unix socket removed" || bad "unix socket removed" "no file" "$tmp/u.sock exists"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
