#!/usr/bin/env bash
# Run the same `xmpp_load.py all` against a throwaway Prosody and (optionally)
# another XMPP server, one after the other, and print both tables side by side.
# Everything is on 127.0.0.1; each server is stopped by its own PID only.
#
# usage: benchmarks/compare.sh [options] [-- extra xmpp_load.py options]
#   --out DIR                results dir (default: new /tmp/xmpp-compare.XXXX)
#   --quick                  small run (idle 1000, 5 s phases) to check the plumbing
#   --idle-clients LIST      default 1000,10000
#   --no-prosody             skip Prosody (then only the other server runs)
#   --prosody-port N         default 15222
#   --prosody-gc MODE        default | generational (Lua GC mode; see README)
#   --key-type rsa|ec        Prosody certificate key (default rsa 2048; use the
#                            same kind of key for the other server)
#   the other server (all optional; without --other-start only Prosody runs):
#   --other-name NAME        column name (default: other)
#   --other-start CMD        shell command that runs the server in the FOREGROUND;
#                            started as `setsid bash -c "exec CMD"`, its PID is $!
#   --other-pid-cmd CMD      optional: prints the PID to measure instead of $!
#   --other-port N           c2s port (default 25222)
#   --other-domain D         default localhost
#   --other-account-cmd CMD  per-account template, {user} {password} {jid} {domain}
#   --other-bulk-cmd CMD     bulk template with {file} ("localpart password" lines)
#   --other-accounts-exist   accounts are already there
#   --other-ready-timeout S  wait this long for the port (default 60)
#   --other-stop CMD         optional stop command (default: SIGTERM to the PID,
#                            SIGKILL after 15 s, then any leftover descendants by PID)
#
# Example for xmpp-video:
#   benchmarks/compare.sh --other-name xmpp-video \
#     --other-start 'env DATA_DIR=/tmp/xv-bench C2S_PORT=25222 XMPP_DOMAIN=localhost xmpp-video serve' \
#     --other-port 25222 \
#     --other-account-cmd 'env DATA_DIR=/tmp/xv-bench XMPP_DOMAIN=localhost xmpp-video user add {user}@localhost --password {password}'
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
LOAD="python3 $HERE/xmpp_load.py"

OUT="" QUICK=0 IDLE="1000,10000" RUN_PROSODY=1 PPORT=15222 PGC=default KEYTYPE=rsa
ONAME=other OSTART="" OPIDCMD="" OPORT=25222 ODOMAIN=localhost OACC="" OBULK="" OEXIST=0
OREADY=60 OSTOP=""
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2;;
    --quick) QUICK=1; shift;;
    --idle-clients) IDLE="$2"; shift 2;;
    --no-prosody) RUN_PROSODY=0; shift;;
    --prosody-port) PPORT="$2"; shift 2;;
    --prosody-gc) PGC="$2"; shift 2;;
    --key-type) KEYTYPE="$2"; shift 2;;
    --other-name) ONAME="$2"; shift 2;;
    --other-start) OSTART="$2"; shift 2;;
    --other-pid-cmd) OPIDCMD="$2"; shift 2;;
    --other-port) OPORT="$2"; shift 2;;
    --other-domain) ODOMAIN="$2"; shift 2;;
    --other-account-cmd) OACC="$2"; shift 2;;
    --other-bulk-cmd) OBULK="$2"; shift 2;;
    --other-accounts-exist) OEXIST=1; shift;;
    --other-ready-timeout) OREADY="$2"; shift 2;;
    --other-stop) OSTOP="$2"; shift 2;;
    --) shift; EXTRA=("$@"); break;;
    -h|--help) sed -n '2,36p' "$0"; exit 0;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
[ -n "$OUT" ] || OUT="$(mktemp -d /tmp/xmpp-compare.XXXX)"
mkdir -p "$OUT"
COMMON=(--idle-clients "$IDLE")
if [ "$QUICK" = 1 ]; then
  COMMON=(--idle-clients 1000 --hold 2 --count 1000 --pairs 50 --seconds 5 --latency-seconds 5)
fi
COMMON+=("${EXTRA[@]}")
echo "results in $OUT"

wait_port() {  # port timeout
  python3 - "$1" "$2" <<'EOF'
import socket, sys, time
port, end = int(sys.argv[1]), time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.3)
sys.exit(1)
EOF
}

descendants() {  # pid -> its descendants' pids
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}

stop_pid() {  # pid: TERM, wait, KILL; then leftover descendants, each by PID
  local pid="$1" kids i
  kids="$(descendants "$pid")"
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  for c in $kids; do kill -0 "$c" 2>/dev/null && kill -TERM "$c" 2>/dev/null; done
  wait "$pid" 2>/dev/null
}

FILES=() NAMES=()
if [ "$RUN_PROSODY" = 1 ]; then
  command -v prosody >/dev/null || { echo "prosody not installed (apt-get install -y prosody)" >&2; exit 1; }
  python3 "$HERE/prosody_setup.py" start --dir "$OUT/prosody" --port "$PPORT" --gc "$PGC" \
      --key-type "$KEYTYPE" > "$OUT/prosody.env" || exit 1
  # shellcheck disable=SC1091
  . "$OUT/prosody/env.sh"
  echo "== Prosody pid $PID on 127.0.0.1:$PPORT (config $CONFIG)"
  $LOAD --name prosody --host 127.0.0.1 --port "$PPORT" --domain "$DOMAIN" --server-pid "$PID" \
      --create-accounts-bulk "$BULK_CMD" --json "$OUT/prosody.json" "${COMMON[@]}" all \
      2>&1 | tee "$OUT/prosody.txt"
  "$STOP_CMD"
  FILES+=("$OUT/prosody.json"); NAMES+=(prosody)
fi

if [ -n "$OSTART" ]; then
  setsid bash -c "exec $OSTART" > "$OUT/$ONAME.server.log" 2>&1 < /dev/null &
  OPID=$!
  echo "== $ONAME started, pid $OPID, waiting for 127.0.0.1:$OPORT"
  if ! wait_port "$OPORT" "$OREADY"; then
    echo "$ONAME did not listen on $OPORT within ${OREADY}s; log: $OUT/$ONAME.server.log" >&2
    stop_pid "$OPID"; exit 1
  fi
  MPID="$OPID"
  if [ -n "$OPIDCMD" ]; then MPID="$(bash -c "$OPIDCMD" | head -1)"; fi
  ACC=(--accounts-exist)
  if [ -n "$OBULK" ]; then ACC=(--create-accounts-bulk "$OBULK")
  elif [ -n "$OACC" ]; then ACC=(--create-account "$OACC")
  elif [ "$OEXIST" != 1 ]; then echo "no account command for $ONAME: assuming accounts exist" >&2; fi
  $LOAD --name "$ONAME" --host 127.0.0.1 --port "$OPORT" --domain "$ODOMAIN" --server-pid "$MPID" \
      "${ACC[@]}" --json "$OUT/$ONAME.json" "${COMMON[@]}" all 2>&1 | tee "$OUT/$ONAME.txt"
  if [ -n "$OSTOP" ]; then bash -c "$OSTOP"; fi
  stop_pid "$OPID"
  FILES+=("$OUT/$ONAME.json"); NAMES+=("$ONAME")
fi

if [ "${#FILES[@]}" -gt 0 ]; then
  echo
  echo "## side by side"
  echo
  $LOAD compare --names "$(IFS=,; echo "${NAMES[*]}")" "${FILES[@]}" | tee "$OUT/compare.md"
fi
