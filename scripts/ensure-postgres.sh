#!/usr/bin/env bash
# Make sure a PostgreSQL server answers and print its URL as DATABASE_URL=<url>.
#
# Usage: scripts/ensure-postgres.sh [DATA_DIR]
#   DATA_DIR  private cluster directory (default: .dev/postgres in the repo)
#
# Order of preference:
#   1. $DATABASE_URL, if set and answering;
#   2. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable, if answering
#      (skipped when ENSURE_SKIP_DEFAULT=1);
#   3. a private cluster in DATA_DIR on 127.0.0.1:$PGPORT_PRIVATE (default
#      54329), reused if already running, else initialised and started. If the
#      server binaries are missing and we are root, postgresql is installed
#      with apt-get. A cluster started here is marked with
#      DATA_DIR/.started-by-us so that scripts/stop-postgres.sh stops only it.
#
# Environment: DATABASE_URL, ENSURE_SKIP_DEFAULT=1, PGPORT_PRIVATE=<port>,
#   PG_FAST=1 (start with fsync=off: faster, not crash-safe).
# Stdout: exactly one line, DATABASE_URL=<url>. Messages go to stderr.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

readonly DEFAULT_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
readonly FALLBACK_USER='licensing-pg'

case "${1:-}" in
-h | --help)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 0
	;;
esac
(($# <= 1)) || die "usage: ${0##*/} [DATA_DIR]"

PORT="${PGPORT_PRIVATE:-54329}"

# pg_answers URL: a server at URL accepts connections.
pg_answers() {
	if have pg_isready; then
		pg_isready -q -t 3 -d "$1" >/dev/null 2>&1
	elif have psql; then
		PGCONNECT_TIMEOUT=3 psql "$1" -XAtqc 'select 1' >/dev/null 2>&1
	else
		url_answers "$1" 5432
	fi
}

if [[ -n ${DATABASE_URL:-} ]]; then
	if pg_answers "$DATABASE_URL"; then
		log "using DATABASE_URL from the environment"
		emit DATABASE_URL "$DATABASE_URL"
		exit 0
	fi
	warn "DATABASE_URL=$(redact_url "$DATABASE_URL") does not answer; looking elsewhere"
fi

if truthy "${ENSURE_SKIP_DEFAULT:-}"; then
	log "ENSURE_SKIP_DEFAULT set: not trying the default server on 127.0.0.1:5432"
elif pg_answers "$DEFAULT_URL"; then
	log "using the server on 127.0.0.1:5432"
	emit DATABASE_URL "$DEFAULT_URL"
	exit 0
fi

# --- private cluster ---------------------------------------------------------

valid_port "$PORT" || die "PGPORT_PRIVATE must be a TCP port number (1-65535), got '$PORT'"

RAW_DIR="$(data_dir_arg postgres "${1:-}")"
[[ $RAW_DIR != *"'"* ]] || die "DATA_DIR must not contain a single quote: $RAW_DIR"
take_lock "$RAW_DIR.lock"
# Resolve symlinks: a data directory moved out of reach of the server user
# (see below) is a symlink to the real one.
DATA_DIR="$(abs_path "$RAW_DIR")"
MARKER="$DATA_DIR/.started-by-us"
PIDFILE="$DATA_DIR/postmaster.pid"

url_for_port() { printf 'postgres://postgres@127.0.0.1:%s/postgres?sslmode=disable' "$1"; }

install_postgres() {
	if is_root && have apt-get; then
		log "PostgreSQL server binaries not found; installing postgresql with apt-get"
		{
			DEBIAN_FRONTEND=noninteractive apt-get update -q &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql
		} >&2 9>&- || die "apt-get install postgresql failed" # 9>&-: a cluster it starts must not hold our lock
		return 0
	fi
	if have apt-get; then
		die "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found. Install them with: sudo apt-get install -y postgresql   (or set DATABASE_URL to a reachable server)"
	fi
	die "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found. Install the PostgreSQL server package for your system (Debian/Ubuntu: apt-get install -y postgresql), or set DATABASE_URL to a reachable server"
}

BINDIR="$(find_pg_bindir)" || {
	install_postgres
	BINDIR="$(find_pg_bindir)" || die "postgresql was installed but its server binaries were not found"
}
SERVER_MAJOR="$("$BINDIR/postgres" --version | awk '{print $3}' | cut -d. -f1)"
log "PostgreSQL $SERVER_MAJOR server binaries: $BINDIR"

# initdb and postgres refuse to run as root: as root, run them as PG_USER.
PG_USER=''
pick_pg_user() {
	local owner
	if [[ -f $DATA_DIR/PG_VERSION ]]; then
		owner="$(stat -c %U -- "$DATA_DIR")"
		[[ $owner != root ]] ||
			die "$DATA_DIR is owned by root, but PostgreSQL cannot run as root; remove it (rm -rf '$RAW_DIR') or chown -R it to an unprivileged user"
		printf '%s\n' "$owner"
	elif id -u postgres >/dev/null 2>&1; then
		printf '%s\n' postgres
	else
		if ! id -u "$FALLBACK_USER" >/dev/null 2>&1; then
			have useradd || die "running as root and no 'postgres' user exists; cannot create one without useradd"
			useradd -r -M -d /nonexistent -s /usr/sbin/nologin -c 'private dev PostgreSQL' "$FALLBACK_USER" >&2 ||
				die "could not create system user $FALLBACK_USER"
			log "created system user $FALLBACK_USER"
		fi
		printf '%s\n' "$FALLBACK_USER"
	fi
}
if is_root; then
	PG_USER="$(pick_pg_user)"
	log "running as root: the cluster runs as user '$PG_USER'"
fi
pg() { run_as "$PG_USER" "$@"; }

# Print the postmaster pid if the cluster in DATA_DIR is running.
running_pid() {
	local pid
	[[ -r $PIDFILE ]] || return 1
	pid="$(head -n 1 -- "$PIDFILE")"
	pid_alive "$pid" || return 1
	pg "$BINDIR/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1 || return 1
	printf '%s\n' "$pid"
}

if pid="$(running_pid)"; then
	port="$(sed -n 4p -- "$PIDFILE")"
	port_open 127.0.0.1 "$port" ||
		die "the cluster in $DATA_DIR is running (pid $pid) but does not answer on 127.0.0.1:$port"
	if [[ -f $MARKER && $(head -n 1 -- "$MARKER") != "$pid" ]]; then
		rm -f -- "$MARKER" # stale: that server was restarted by someone else
	fi
	log "reusing the running private cluster in $DATA_DIR (pid $pid, port $port)"
	emit DATABASE_URL "$(url_for_port "$port")"
	exit 0
fi
rm -f -- "$MARKER"

if port_open 127.0.0.1 "$PORT"; then
	owner="$(port_owner "$PORT")"
	die "port $PORT on 127.0.0.1 is already in use${owner:+ by $owner}; set PGPORT_PRIVATE to a free port"
fi

# Give the data directory to PG_USER; if PG_USER cannot reach it (e.g. the
# repository is under /root), keep the cluster under /var/tmp and leave a
# symlink at DATA_DIR.
prepare_data_dir() {
	mkdir -p -- "$DATA_DIR"
	chmod 700 -- "$DATA_DIR"
	[[ -n $PG_USER ]] || return 0
	chown -- "$PG_USER:" "$DATA_DIR"
	pg test -w "$DATA_DIR" -a -x "$DATA_DIR" && return 0

	local real
	real="/var/tmp/licensing-pg-$(printf '%s' "$RAW_DIR" | sha256sum | cut -c1-12)"
	warn "user '$PG_USER' cannot reach $DATA_DIR (a parent directory is private); keeping the cluster in $real with a symlink at $RAW_DIR"
	rmdir -- "$DATA_DIR"
	mkdir -p -- "$real"
	chmod 700 -- "$real"
	chown -- "$PG_USER:" "$real"
	ln -sfn -- "$real" "$RAW_DIR"
	DATA_DIR="$real"
	MARKER="$DATA_DIR/.started-by-us"
	PIDFILE="$DATA_DIR/postmaster.pid"
}

if [[ -f $DATA_DIR/PG_VERSION ]]; then
	data_major="$(head -n 1 -- "$DATA_DIR/PG_VERSION")"
	[[ $data_major == "$SERVER_MAJOR" ]] ||
		die "$DATA_DIR holds a PostgreSQL $data_major cluster but the server is $SERVER_MAJOR; remove it (rm -rf '$RAW_DIR') to start afresh"
else
	if [[ -d $DATA_DIR ]] && [[ -n $(ls -A -- "$DATA_DIR") ]]; then
		die "$DATA_DIR exists, is not empty and is not a PostgreSQL cluster; remove it or pass another DATA_DIR"
	fi
	prepare_data_dir
fi
if [[ ! -f $DATA_DIR/PG_VERSION ]]; then
	locale_opt=(--locale=C)
	if locale -a 2>/dev/null | grep -qix 'c\.utf-\{0,1\}8'; then
		locale_opt=(--locale=C.UTF-8)
	fi
	log "initialising a new cluster in $DATA_DIR"
	if ! initdb_out="$(pg "$BINDIR/initdb" -D "$DATA_DIR" -U postgres -A trust -E UTF8 "${locale_opt[@]}" 2>&1)"; then
		printf '%s\n' "$initdb_out" >&2
		die "initdb failed for $DATA_DIR"
	fi
fi

opts="-p $PORT -c listen_addresses=127.0.0.1 -c max_connections=300"
socket="$DATA_DIR/.s.PGSQL.$PORT"
if ((${#socket} < 108)); then
	opts+=" -k '$DATA_DIR'"
else
	log "$DATA_DIR is too long for a Unix socket path; TCP only"
	opts+=" -c unix_socket_directories=''"
fi
if truthy "${PG_FAST:-}"; then
	opts+=" -c fsync=off"
	log "PG_FAST set: fsync=off (data may be lost on a crash)"
fi

log "starting the private cluster on 127.0.0.1:$PORT (log: $DATA_DIR/server.log)"
# 9>&-: the server must not inherit our lock.
if ! pg "$BINDIR/pg_ctl" -D "$DATA_DIR" -l "$DATA_DIR/server.log" -o "$opts" -s -w -t 60 start >&2 9>&-; then
	tail_log "$DATA_DIR/server.log"
	die "could not start PostgreSQL in $DATA_DIR"
fi
pid="$(head -n 1 -- "$PIDFILE")"
if ! wait_for_port 127.0.0.1 "$PORT" 10 "$pid"; then
	tail_log "$DATA_DIR/server.log"
	die "PostgreSQL started (pid $pid) but does not answer on 127.0.0.1:$PORT"
fi
printf '%s\n' "$pid" >"$MARKER"
log "private cluster up (pid $pid); stop it with scripts/stop-postgres.sh${1:+ $1}"
emit DATABASE_URL "$(url_for_port "$PORT")"
