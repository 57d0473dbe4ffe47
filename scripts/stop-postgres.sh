#!/usr/bin/env bash
# Stop the private PostgreSQL cluster that scripts/ensure-postgres.sh started.
#
# Usage: scripts/stop-postgres.sh [DATA_DIR]
#   DATA_DIR  private cluster directory (default: .dev/postgres in the repo)
#
# Acts only when DATA_DIR/.started-by-us exists and names the running
# postmaster: any other server (the system one, or a cluster someone else
# started) is left alone. Stops with pg_ctl stop -m fast, then removes the
# marker. The data directory is kept. Prints nothing on stdout.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
-h | --help)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 0
	;;
esac
(($# <= 1)) || die "usage: ${0##*/} [DATA_DIR]"

RAW_DIR="$(data_dir_arg postgres "${1:-}")"
DATA_DIR="$(abs_path "$RAW_DIR")"
MARKER="$DATA_DIR/.started-by-us"
PIDFILE="$DATA_DIR/postmaster.pid"

if [[ ! -f $MARKER ]]; then
	log "no private cluster started by ensure-postgres.sh in $DATA_DIR; nothing to stop"
	exit 0
fi
take_lock "$RAW_DIR.lock"

marked_pid="$(head -n 1 -- "$MARKER")"
running_pid="$(head -n 1 -- "$PIDFILE" 2>/dev/null || true)"
if ! pid_alive "$running_pid"; then
	log "the private cluster in $DATA_DIR is not running; removing the stale marker"
	rm -f -- "$MARKER"
	exit 0
fi
if [[ $running_pid != "$marked_pid" ]]; then
	log "the cluster in $DATA_DIR (pid $running_pid) is not the one we started (pid $marked_pid); leaving it alone"
	rm -f -- "$MARKER"
	exit 0
fi

# pg_ctl of the running server's own version, else the usual search.
bindir="$(dirname -- "$(readlink -- "/proc/$running_pid/exe" 2>/dev/null || true)")"
if ! pg_server_bindir_ok "$bindir"; then
	bindir="$(find_pg_bindir)" || die "cannot find pg_ctl to stop the cluster in $DATA_DIR (pid $running_pid)"
fi

# pg_ctl refuses to run as root: act as the owner of the data directory.
user=''
if is_root; then
	user="$(stat -c %U -- "$DATA_DIR")"
	[[ $user != root ]] || die "$DATA_DIR is owned by root; cannot run pg_ctl as root"
fi

log "stopping the private cluster in $DATA_DIR (pid $running_pid)"
run_as "$user" "$bindir/pg_ctl" -D "$DATA_DIR" -m fast -s -w -t 60 stop >&2 ||
	die "pg_ctl stop failed for $DATA_DIR (see $DATA_DIR/server.log)"
rm -f -- "$MARKER"
log "stopped"
