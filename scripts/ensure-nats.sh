#!/usr/bin/env bash
# Make sure a NATS server (with JetStream) answers and print NATS_URL=<url>.
#
# Usage: scripts/ensure-nats.sh [DATA_DIR]
#   DATA_DIR  private server directory (default: .dev/nats in the repo)
#
# Order of preference:
#   1. $NATS_URL, if set and its host:port accepts TCP;
#   2. nats://127.0.0.1:4222, if it accepts TCP (skipped when
#      ENSURE_SKIP_DEFAULT=1);
#   3. a private nats-server on 127.0.0.1:$NATS_PRIVATE_PORT (default 42229)
#      with JetStream stored in DATA_DIR/store, logging to DATA_DIR/server.log,
#      its pid in DATA_DIR/nats.pid (reused if already running). The server is
#      built once into .dev/bin with go install from the pinned module version.
#
# Environment: NATS_URL, ENSURE_SKIP_DEFAULT=1, NATS_PRIVATE_PORT=<port>.
# Stdout: exactly one line, NATS_URL=<url>. Messages go to stderr.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly DEFAULT_URL='nats://127.0.0.1:4222'
readonly NATS_MODULE='github.com/nats-io/nats-server/v2'
readonly NATS_VERSION='v2.15.2'
readonly BIN_DIR="$DEV_DIR/bin"
readonly NATS_BIN="$BIN_DIR/nats-server"
readonly START_DEADLINE=20

case "${1:-}" in
-h | --help)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 0
	;;
esac
(($# <= 1)) || die "usage: ${0##*/} [DATA_DIR]"

PORT="${NATS_PRIVATE_PORT:-42229}"

if [[ -n ${NATS_URL:-} ]]; then
	if url_answers "$NATS_URL" 4222; then
		log "using NATS_URL from the environment"
		emit NATS_URL "$NATS_URL"
		exit 0
	fi
	warn "NATS_URL=$(redact_url "$NATS_URL") does not answer; looking elsewhere"
fi

if truthy "${ENSURE_SKIP_DEFAULT:-}"; then
	log "ENSURE_SKIP_DEFAULT set: not trying the default server on 127.0.0.1:4222"
elif url_answers "$DEFAULT_URL" 4222; then
	log "using the server on 127.0.0.1:4222"
	emit NATS_URL "$DEFAULT_URL"
	exit 0
fi

# --- private server ----------------------------------------------------------

valid_port "$PORT" || die "NATS_PRIVATE_PORT must be a TCP port number (1-65535), got '$PORT'"

RAW_DIR="$(data_dir_arg nats "${1:-}")"
take_lock "$RAW_DIR.lock"
DATA_DIR="$(abs_path "$RAW_DIR")"
STORE_DIR="$DATA_DIR/store"
PIDFILE="$DATA_DIR/nats.pid"
LOGFILE="$DATA_DIR/server.log"

# our_nats PID: PID is a nats-server serving this DATA_DIR's store.
our_nats() {
	local args
	pid_alive "$1" || return 1
	args="$(cmdline "$1")" || return 1
	[[ $(head -n 1 <<<"$args") == *nats-server ]] && grep -qxF -- "$STORE_DIR" <<<"$args"
}

# Print the port a nats-server process was started with (-p PORT).
nats_port_of() { cmdline "$1" | awk 'prev == "-p" || prev == "--port" {print; exit} {prev = $0}'; }

if [[ -f $PIDFILE ]]; then
	pid="$(head -n 1 -- "$PIDFILE")"
	if our_nats "$pid"; then
		port="$(nats_port_of "$pid")"
		port="${port:-$PORT}"
		wait_for_port 127.0.0.1 "$port" "$START_DEADLINE" "$pid" ||
			die "the private nats-server (pid $pid) runs but does not answer on 127.0.0.1:$port (log: $LOGFILE)"
		log "reusing the running private nats-server (pid $pid, port $port)"
		emit NATS_URL "nats://127.0.0.1:$port"
		exit 0
	fi
	rm -f -- "$PIDFILE" # stale
fi

if port_open 127.0.0.1 "$PORT"; then
	owner="$(port_owner "$PORT")"
	die "port $PORT on 127.0.0.1 is already in use${owner:+ by $owner}; set NATS_PRIVATE_PORT to a free port"
fi

installed_version() { "$NATS_BIN" --version 2>/dev/null | awk '{print $NF}'; }

if [[ ! -x $NATS_BIN ]] || [[ $(installed_version) != "$NATS_VERSION" ]]; then
	have go || die "nats-server is not built yet and Go is not on PATH; install Go or set NATS_URL to a reachable server"
	log "building nats-server $NATS_VERSION into $BIN_DIR (once)"
	mkdir -p -- "$BIN_DIR"
	(cd "$REPO_ROOT" && GOBIN="$BIN_DIR" GOWORK=off CGO_ENABLED=0 go install "$NATS_MODULE@$NATS_VERSION") >&2 ||
		die "go install $NATS_MODULE@$NATS_VERSION failed"
	[[ -x $NATS_BIN ]] || die "go install succeeded but $NATS_BIN is missing"
fi

mkdir -p -- "$STORE_DIR"
log "starting the private nats-server on 127.0.0.1:$PORT (log: $LOGFILE)"
start=(-a 127.0.0.1 -p "$PORT" -js -sd "$STORE_DIR")
# New session, no terminal, output to the log, lock (fd 9) closed: the server
# outlives this script and never holds the caller's stdout (so
# $(ensure-nats.sh) returns) nor our lock.
if have setsid; then
	setsid "$NATS_BIN" "${start[@]}" </dev/null >>"$LOGFILE" 2>&1 9>&- &
else
	nohup "$NATS_BIN" "${start[@]}" </dev/null >>"$LOGFILE" 2>&1 9>&- &
fi
pid=$!
printf '%s\n' "$pid" >"$PIDFILE"

if ! wait_for_port 127.0.0.1 "$PORT" "$START_DEADLINE" "$pid"; then
	why="did not answer on 127.0.0.1:$PORT within ${START_DEADLINE}s"
	pid_alive "$pid" || why="exited during startup"
	kill "$pid" 2>/dev/null || true
	rm -f -- "$PIDFILE"
	tail_log "$LOGFILE"
	die "nats-server $why"
fi
log "private nats-server up (pid $pid); stop it with scripts/stop-nats.sh${1:+ $1}"
emit NATS_URL "nats://127.0.0.1:$PORT"
