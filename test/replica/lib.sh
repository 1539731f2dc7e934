# Shared by test/standby.sh and test/failover.sh (sourced, not run): clusters
# of their own, made with the binaries of the server the PG* environment
# names (so with the sanse installed there: the system's under make test, a
# developer's copy under /work/tools/devpg), run by the postgres user, data
# and Unix sockets in a temporary directory, TCP on the loopback only, on free
# ports from $SANSE_REPLICA_PORT up (default given by the test).
#
# After sourcing: $rtmp (the directory, removed by replica_cleanup), and
#   replica_bindir                 sets $bindir
#   replica_port N                 prints the first free loopback port >= N
#   replica_primary NAME PORT [conf lines...]   initdb + start
#   replica_standby NAME PORT FROM_PORT [conf lines...]  pg_basebackup -R + start
#   replica_stop NAME [mode]       pg_ctl stop (fast by default)
#   replica_promote NAME           pg_ctl promote -w
#   rq PORT [psql args...]         psql -X -q -t -A -v ON_ERROR_STOP=1 on 127.0.0.1:PORT, db $rdb
#   replica_caught_up FROM TO      waits (30 s at most) until TO replayed all FROM wrote
#   replica_cleanup                stops every cluster made here, removes $rtmp

rdb=${rdb:-sanse_replica}
rtmp=$(mktemp -d /tmp/sanse-replica.XXXXXX) || exit 2
chmod 755 "$rtmp"
replica_names=

# the clusters run as the postgres user (as root, through runuser), or as
# whoever runs the test
if [ "$(id -u)" = 0 ]; then
	chown postgres "$rtmp"
	as_postgres() { runuser -u postgres -- "$@"; }
	as_owner() { chown postgres "$@"; }
else
	as_postgres() { "$@"; }
	as_owner() { :; }
fi

# The running server's own binaries: its postmaster's executable, else pg_config's.
replica_bindir() {
	pid=$(psql -X -q -t -A -d postgres -c "SELECT split_part(pg_read_file('postmaster.pid'), E'\n', 1)" 2>/dev/null)
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
	if [ -n "$exe" ] && [ -x "$(dirname "$exe")/pg_ctl" ]; then
		bindir=$(dirname "$exe")
	else
		bindir=$(/usr/lib/postgresql/15/bin/pg_config --bindir)
	fi
}

replica_port() {
	python3 - "$1" <<'PY'
import socket, sys
p = int(sys.argv[1])
while p < 65000:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
        s.close()
        print(p)
        break
    except OSError:
        p += 1
PY
}

rq() {
	p=$1
	shift
	psql -X -q -t -A -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$p" -U postgres -d "$rdb" "$@"
}

# replica_conf NAME PORT lines...: this cluster's settings, appended last
replica_conf() {
	n=$1
	p=$2
	shift 2
	{
		echo "port = $p"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$rtmp/$n'"
		echo "logging_collector = off"
		echo "log_line_prefix = '%m [%p] %q%u@%d '"
		for l in "$@"; do echo "$l"; done
	} >>"$rtmp/$n/data/postgresql.conf"
}

replica_start() {
	as_postgres "$bindir/pg_ctl" -D "$rtmp/$1/data" -l "$rtmp/$1/server.log" -w -t 60 start >"$rtmp/$1/start.out" 2>&1
}

replica_primary() {
	n=$1
	p=$2
	shift 2
	mkdir -p "$rtmp/$n" && as_owner "$rtmp/$n" || return 1
	as_postgres "$bindir/initdb" -D "$rtmp/$n/data" -A trust -U postgres -k >"$rtmp/$n/initdb.out" 2>&1 || {
		cat "$rtmp/$n/initdb.out"
		return 1
	}
	replica_conf "$n" "$p" "$@"
	replica_names="$replica_names $n"
	replica_start "$n" || { cat "$rtmp/$n/start.out" "$rtmp/$n/server.log"; return 1; }
}

# a streaming hot standby of the cluster on FROM_PORT (pg_basebackup -R writes
# standby.signal and primary_conninfo); its own settings after the copied ones
replica_standby() {
	n=$1
	p=$2
	from=$3
	shift 3
	mkdir -p "$rtmp/$n" && as_owner "$rtmp/$n" || return 1
	as_postgres "$bindir/pg_basebackup" -h 127.0.0.1 -p "$from" -U postgres -D "$rtmp/$n/data" -R -X stream \
		-c fast >"$rtmp/$n/basebackup.out" 2>&1 || {
		cat "$rtmp/$n/basebackup.out"
		return 1
	}
	replica_conf "$n" "$p" "$@"
	# its name on the primary (pg_stat_replication.application_name, what
	# synchronous_standby_names lists): after what -R wrote, so it wins
	echo "primary_conninfo = 'host=127.0.0.1 port=$from user=postgres application_name=$n'" \
		>>"$rtmp/$n/data/postgresql.auto.conf"
	replica_names="$replica_names $n"
	replica_start "$n" || { cat "$rtmp/$n/start.out" "$rtmp/$n/server.log"; return 1; }
}

replica_stop() {
	[ -f "$rtmp/$1/data/postmaster.pid" ] &&
		as_postgres "$bindir/pg_ctl" -D "$rtmp/$1/data" -m "${2:-fast}" -w -t 60 stop >/dev/null 2>&1
}

replica_promote() {
	as_postgres "$bindir/pg_ctl" -D "$rtmp/$1/data" -w -t 60 promote >/dev/null 2>&1
}

replica_caught_up() {
	lsn=$(rq "$1" -c "SELECT pg_current_wal_lsn()")
	i=0
	while [ $i -lt 300 ]; do
		[ "$(rq "$2" -c "SELECT coalesce(pg_last_wal_replay_lsn() >= '$lsn', false)" 2>/dev/null)" = t ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

replica_cleanup() {
	for n in $replica_names; do replica_stop "$n" immediate; done
	rm -rf "$rtmp"
}
