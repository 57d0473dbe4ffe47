#!/usr/bin/env bash
# Stop the private nats-server that scripts/ensure-nats.sh started.
#
# Usage: scripts/stop-nats.sh [DATA_DIR]
#   DATA_DIR  private server directory (default: .dev/nats in the repo)
#
# Signals the pid in DATA_DIR/nats.pid only if that process is a nats-server
# serving DATA_DIR/store (so a recycled pid or any other server is left
# alone), waits for it to exit (SIGTERM, then SIGKILL after 10 s) and removes
# the pid file. JetStream data in DATA_DIR/store is kept. Prints nothing on
# stdout.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly STOP_DEADLINE=10

case "${1:-}" in
-h | --help)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 0
	;;
esac
(($# <= 1)) || die "usage: ${0##*/} [DATA_DIR]"

RAW_DIR="$(data_dir_arg nats "${1:-}")"
DATA_DIR="$(abs_path "$RAW_DIR")"
STORE_DIR="$DATA_DIR/store"
PIDFILE="$DATA_DIR/nats.pid"

if [[ ! -f $PIDFILE ]]; then
	log "no private nats-server started by ensure-nats.sh in $DATA_DIR; nothing to stop"
	exit 0
fi
take_lock "$RAW_DIR.lock"

pid="$(head -n 1 -- "$PIDFILE")"
args="$(cmdline "$pid" || true)"
if ! pid_alive "$pid" || [[ $(head -n 1 <<<"$args") != *nats-server ]] ||
	! grep -qxF -- "$STORE_DIR" <<<"$args"; then
	log "pid ${pid:-?} in $PIDFILE is not our running nats-server; removing the stale pid file"
	rm -f -- "$PIDFILE"
	exit 0
fi

log "stopping the private nats-server (pid $pid)"
kill -TERM "$pid" 2>/dev/null || true
end=$((SECONDS + STOP_DEADLINE))
while pid_alive "$pid" && ((SECONDS < end)); do
	sleep 0.1
done
if pid_alive "$pid"; then
	warn "nats-server (pid $pid) still running after ${STOP_DEADLINE}s; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	end=$((SECONDS + 5))
	while pid_alive "$pid" && ((SECONDS < end)); do
		sleep 0.1
	done
	pid_alive "$pid" && die "nats-server (pid $pid) does not exit"
fi
rm -f -- "$PIDFILE"
log "stopped"
