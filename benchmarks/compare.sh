#!/usr/bin/env bash
# Run the same `xmpp_load.py all` against a throwaway Prosody and (optionally)
# another XMPP server, one after the other, and print both tables side by side.
# Everything is on 127.0.0.1; each server is stopped by its own PID only.
#
# usage: benchmarks/compare.sh [options] [-- extra xmpp_load.py options]
#   --out DIR                results dir (default: new /tmp/xmpp-compare.XXXX)
#   --single                 one server life for all phases; default: two rounds per
#                            server, each on a freshly started server: (1) idle,
#                            (2) login, throughput, latency -- a server that has just
#                            held 10,000 sessions can be slower afterwards (Prosody is)
#   --quick                  small run (idle 1000, 5 s phases) to check the plumbing
#   --idle-clients LIST      default 1000,10000
#   --no-prosody             skip Prosody (then only the other server runs)
#   --prosody-port N         default 15222
#   --prosody-gc MODE        default | generational (Lua GC mode; see README)
#   --key-type ec|rsa        Prosody certificate key (default ec P-256, like
#                            xmpp-video's generated one; rsa = 2048 bit)
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
# Example for xmpp-video (the env line is one variable list, reused by both commands):
#   XV='env DATA_DIR=/tmp/xv-bench C2S_PORT=25222 XMPP_DOMAIN=localhost BIND_HOST=127.0.0.1 C2S_TLS_PORT=0 COMPONENT_PORT=0 HTTP_PORT=28080 HTTPS_PORT=28443 LOG_LEVEL=WARNING ARCHIVE=false'
#   benchmarks/compare.sh --other-name xmpp-video \
#     --other-start "$XV xmpp-video serve" --other-port 25222 \
#     --other-account-cmd "$XV xmpp-video user add {user}@localhost --password {password}"
#   (or, much faster for 10,000 accounts, a bulk command reading "localpart password" lines:
#     --other-bulk-cmd "$XV python3 benchmarks/xv_accounts.py {file}")
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
LOAD="python3 $HERE/xmpp_load.py"

OUT="" SINGLE=0 QUICK=0 IDLE="1000,10000" RUN_PROSODY=1 PPORT=15222 PGC=default KEYTYPE=ec
ONAME=other OSTART="" OPIDCMD="" OPORT=25222 ODOMAIN=localhost OACC="" OBULK="" OEXIST=0
OREADY=60 OSTOP=""
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2;;
    --quick) QUICK=1; shift;;
    --single) SINGLE=1; shift;;
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
    -h|--help) sed -n '2,/^set -u/{/^#/p}' "$0"; exit 0;;
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

if [ "$SINGLE" = 1 ]; then ROUNDS=("idle,login,throughput,latency")
else ROUNDS=("idle" "login,throughput,latency"); fi

merge_json() {  # out in...
  python3 - "$@" <<'EOF'
import json, sys
out, merged = sys.argv[1], {}
for f in sys.argv[2:]:
    d = json.load(open(f))
    meta = merged.get("meta")
    merged.update(d)
    if meta:
        merged["meta"] = dict(meta, command=meta["command"] + "  ;  " + d["meta"]["command"])
json.dump(merged, open(out, "w"), indent=2)
EOF
}

FILES=() NAMES=()
if [ "$RUN_PROSODY" = 1 ]; then
  command -v prosody >/dev/null || { echo "prosody not installed (apt-get install -y prosody)" >&2; exit 1; }
  PARTS=()
  for r in "${!ROUNDS[@]}"; do
    rm -rf "$OUT/prosody$r"
    python3 "$HERE/prosody_setup.py" start --dir "$OUT/prosody$r" --port "$PPORT" --gc "$PGC" \
        --key-type "$KEYTYPE" > "$OUT/prosody$r.env" || exit 1
    # shellcheck disable=SC1090
    . "$OUT/prosody$r/env.sh"
    echo "== Prosody pid $PID on 127.0.0.1:$PPORT (config $CONFIG), phases ${ROUNDS[$r]}"
    $LOAD --name prosody --host 127.0.0.1 --port "$PPORT" --domain "$DOMAIN" --server-pid "$PID" \
        --create-accounts-bulk "$BULK_CMD" --json "$OUT/prosody.$r.json" "${COMMON[@]}" \
        --phases "${ROUNDS[$r]}" all 2>&1 | tee "$OUT/prosody.$r.txt"
    "$STOP_CMD"
    PARTS+=("$OUT/prosody.$r.json")
  done
  merge_json "$OUT/prosody.json" "${PARTS[@]}"
  FILES+=("$OUT/prosody.json"); NAMES+=(prosody)
fi

if [ -n "$OSTART" ]; then
  PARTS=()
  ACC=(--accounts-exist)
  if [ -n "$OBULK" ]; then ACC=(--create-accounts-bulk "$OBULK")
  elif [ -n "$OACC" ]; then ACC=(--create-account "$OACC")
  elif [ "$OEXIST" != 1 ]; then echo "no account command for $ONAME: assuming accounts exist" >&2; fi
  # round 1 runs the account command for every account (the data dir may have been
  # wiped); round 2 creates only the ones missing (xmpp_load.py remembers, per command
  # and port, in /tmp/xmpp-load-state)
  for r in "${!ROUNDS[@]}"; do
    if wait_port "$OPORT" 0.5; then
      echo "127.0.0.1:$OPORT is already in use by another process; not starting $ONAME" >&2; exit 1
    fi
    setsid bash -c "exec $OSTART" >> "$OUT/$ONAME.server.log" 2>&1 < /dev/null &
    OPID=$!
    echo "== $ONAME started, pid $OPID, waiting for 127.0.0.1:$OPORT; phases ${ROUNDS[$r]}"
    if ! wait_port "$OPORT" "$OREADY"; then
      echo "$ONAME did not listen on $OPORT within ${OREADY}s; log: $OUT/$ONAME.server.log" >&2
      stop_pid "$OPID"; exit 1
    fi
    MPID="$OPID"
    if [ -n "$OPIDCMD" ]; then MPID="$(bash -c "$OPIDCMD" | head -1)"; fi
    FIRST=(); [ "$r" = 0 ] && FIRST=(--recreate-accounts)
    $LOAD --name "$ONAME" --host 127.0.0.1 --port "$OPORT" --domain "$ODOMAIN" --server-pid "$MPID" \
        "${ACC[@]}" "${FIRST[@]}" --json "$OUT/$ONAME.$r.json" "${COMMON[@]}" --phases "${ROUNDS[$r]}" all \
        2>&1 | tee "$OUT/$ONAME.$r.txt"
    if [ -n "$OSTOP" ]; then bash -c "$OSTOP"; fi
    stop_pid "$OPID"
    PARTS+=("$OUT/$ONAME.$r.json")
  done
  merge_json "$OUT/$ONAME.json" "${PARTS[@]}"
  FILES+=("$OUT/$ONAME.json"); NAMES+=("$ONAME")
fi

if [ "${#FILES[@]}" -gt 0 ]; then
  echo
  echo "## side by side"
  echo
  $LOAD compare --names "$(IFS=,; echo "${NAMES[*]}")" "${FILES[@]}" | tee "$OUT/compare.md"
fi
