# shellcheck shell=bash
# Shared helpers for the ensure-*/stop-* scripts. Source it, do not run it.
#
# Convention: only KEY=value lines go to stdout (see emit); every message goes
# to stderr, so callers can capture stdout safely.

# Repository root: the parent of the folder holding this file.
REPO_ROOT="$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
# Directory holding dev-only state (clusters, pid files, built tools).
DEV_DIR="$REPO_ROOT/.dev"
readonly DEV_DIR

_script_name="${0##*/}"

log() { printf '%s: %s\n' "$_script_name" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$_script_name" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$_script_name" "$*" >&2
	exit 1
}

# emit KEY VALUE: the only thing these scripts write to stdout.
emit() { printf '%s=%s\n' "$1" "$2"; }

have() { command -v "$1" >/dev/null 2>&1; }

is_root() { [[ $(id -u) -eq 0 ]]; }

# truthy VALUE: 1/true/yes/on (any case).
truthy() {
	case "${1,,}" in
	1 | true | yes | on) return 0 ;;
	*) return 1 ;;
	esac
}

# abs_path PATH: absolute, normalised path; relative paths are taken from the
# current directory. Symlinks are resolved (the path need not exist).
abs_path() { realpath -m -- "$1"; }

# data_dir_arg NAME [ARG]: absolute data directory; ARG if given (relative to
# the current directory), else .dev/NAME under the repository root. Symlinks
# are not resolved here, so the result is also a stable place for lock files.
data_dir_arg() {
	if [[ -n ${2:-} ]]; then
		realpath -m -s -- "$2"
	else
		printf '%s\n' "$DEV_DIR/$1"
	fi
}

# take_lock FILE [SECONDS]: hold an exclusive lock on FILE (fd 9) until the
# script exits, so two concurrent runs cannot start two servers. Servers
# started while holding it must get 9>&- so they do not inherit it.
take_lock() {
	have flock || return 0
	mkdir -p -- "$(dirname -- "$1")" 2>/dev/null || true
	if ! { exec 9>>"$1"; } 2>/dev/null; then
		warn "cannot open lock file $1; going on without a lock"
		return 0
	fi
	flock -w "${2:-120}" 9 || die "timed out waiting for lock $1 (another run still busy?)"
}

# pid_alive PID: the process exists and is not a zombie (works for other
# users' processes too).
pid_alive() {
	[[ $1 =~ ^[0-9]+$ && -d /proc/$1 ]] || return 1
	! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# valid_port VALUE: VALUE is a TCP port number (1-65535).
valid_port() { [[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && (($1 < 65536)); }

# port_open HOST PORT [TIMEOUT_SECONDS]: something accepts TCP on HOST:PORT.
port_open() {
	local host="$1" port="$2" limit="${3:-1}"
	[[ $port =~ ^[0-9]+$ ]] || return 1
	# The inner shell opens the socket; timeout bounds hosts that drop packets.
	# shellcheck disable=SC2016 # expanded by the inner shell on purpose
	timeout "$limit" "${BASH:-bash}" -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
}

# wait_for_port HOST PORT SECONDS [PID]: poll every 0.1 s until HOST:PORT
# answers; fail at the deadline, or early if PID (the server) has died.
wait_for_port() {
	local host="$1" port="$2" secs="$3" pid="${4:-}"
	local end=$((SECONDS + secs))
	while ((SECONDS < end)); do
		port_open "$host" "$port" && return 0
		if [[ -n $pid ]] && ! pid_alive "$pid"; then
			return 1
		fi
		sleep 0.1
	done
	port_open "$host" "$port"
}

# url_host_port URL DEFAULT_PORT: print "HOST PORT" for a scheme://[user@]host[:port][/...]
# URL (first entry of a comma-separated list); fails if it cannot be parsed.
url_host_port() {
	local url="${1%%,*}" default_port="$2" rest host port
	[[ $url == *://* ]] || return 1
	rest="${url#*://}"
	rest="${rest%%[/?#]*}"
	rest="${rest##*@}"
	if [[ $rest =~ ^\[([^]]+)\](:([0-9]+))?$ ]]; then
		host="${BASH_REMATCH[1]}" port="${BASH_REMATCH[3]}"
	elif [[ $rest =~ ^([^:]+)(:([0-9]+))?$ ]]; then
		host="${BASH_REMATCH[1]}" port="${BASH_REMATCH[3]}"
	else
		return 1
	fi
	[[ -n $host ]] || return 1
	printf '%s %s\n' "$host" "${port:-$default_port}"
}

# url_answers URL DEFAULT_PORT: the URL's host:port accepts a TCP connection.
url_answers() {
	local hp
	hp="$(url_host_port "$1" "$2")" || return 1
	# shellcheck disable=SC2086 # "HOST PORT" splits into two arguments
	port_open $hp 2
}

# port_owner PORT: best-effort description of what listens on PORT (for errors).
port_owner() {
	have ss || return 0
	ss -Hltnp "sport = :$1" 2>/dev/null | awk '{print $NF}' | head -n 1
}

# cmdline PID: the process's arguments, one per line.
cmdline() { tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null; }

# tail_log FILE: show the end of a server log on stderr to explain a failure.
tail_log() {
	[[ -r $1 ]] || return 0
	printf '%s: last lines of %s:\n' "$_script_name" "$1" >&2
	tail -n 20 -- "$1" | sed 's/^/    /' >&2
}

# redact_url URL: hide a password in scheme://user:password@host URLs for logs.
redact_url() {
	# shellcheck disable=SC2001 # a regex substitution, not a plain replace
	sed 's#^\([a-z][a-z0-9+.-]*://[^:/@]*\):[^@/]*@#\1:***@#' <<<"$1"
}

# run_as USER CMD...: run CMD as USER (from /, so a private working directory
# does not get in the way); with an empty USER, run it directly.
run_as() {
	local user="$1"
	shift
	if [[ -z $user ]]; then
		"$@"
	elif have runuser; then
		(cd / && runuser -u "$user" -- "$@")
	else
		(cd / && su -s /bin/bash "$user" -c "$(printf '%q ' "$@")")
	fi
}

# PostgreSQL server binaries (initdb, pg_ctl, postgres) live in DIR.
pg_server_bindir_ok() { [[ -x $1/initdb && -x $1/pg_ctl && -x $1/postgres ]]; }

# find_pg_bindir: print the directory with the PostgreSQL server binaries:
# pg_config --bindir, else the newest /usr/lib/postgresql/*/bin, else the
# directory of initdb on PATH.
find_pg_bindir() {
	local dir
	if have pg_config; then
		dir="$(pg_config --bindir 2>/dev/null || true)"
		if [[ -n $dir ]] && pg_server_bindir_ok "$dir"; then
			printf '%s\n' "$dir"
			return 0
		fi
	fi
	while IFS= read -r dir; do
		if pg_server_bindir_ok "$dir"; then
			printf '%s\n' "$dir"
			return 0
		fi
	done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV)
	if have initdb; then
		dir="$(dirname -- "$(readlink -f -- "$(command -v initdb)")")"
		if pg_server_bindir_ok "$dir"; then
			printf '%s\n' "$dir"
			return 0
		fi
	fi
	return 1
}
