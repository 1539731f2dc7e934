#!/bin/sh
# The Debian package (make deb) installs, works in a fresh cluster and removes
# cleanly (issue 19).  Builds postgresql-15-sanse with `make deb` (the
# build-time installcheck skipped: make test runs those tests itself), checks
# it with lintian and lists what it ships, then installs the .deb with dpkg,
# creates a fresh cluster of its own, runs CREATE EXTENSION sanse CASCADE and
# a small tour in it (types, a district, a resident, a check-in, a sweep,
# coverage), purges the package and checks it left nothing behind, and puts
# the development install back (make install) for the tests after it.
#
# The fresh cluster is this test's own: initdb in a temporary directory, run
# by the postgres user, listening on a Unix socket in that directory only (no
# TCP port, so it cannot collide with the cluster make test runs in or with
# anyone else's), with PostgreSQL's defaults (nothing preloaded), so what it
# shows is what a DBA gets from `apt install` and CREATE EXTENSION.
#
# Installing the package writes the system-wide directories
# /usr/share/postgresql/15/extension and /usr/lib/postgresql/15/lib, which
# every `make install` and `make test` on this machine use too: from the
# install to the restored development install the test holds the lock
# /tmp/sanse-system.lock (flock), and it must not run beside other tests that
# use the system-wide sanse (run_all.sh runs the test/*.sh one after another).
# The sanse files found there before are moved aside first, so that "nothing
# left behind" means nothing at all; after the purge `make install` puts the
# development install back and any other file moved aside is put back as it
# was.  Prints TAP-like "ok - ..." / "not ok - ..." lines; exits non-zero on
# any failure.  Needs root (dpkg) and what `make deps` installs.
cd "$(dirname "$0")/.." || exit 2
MAKE=${MAKE:-make}
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
pkg=postgresql-15-sanse
extdir=$($PG_CONFIG --sharedir)/extension
libdir=$($PG_CONFIG --pkglibdir)
bindir=$($PG_CONFIG --bindir)
extversion=$(sed -n "s/^default_version = '\(.*\)'/\1/p" sanse.control)
tmp=$(mktemp -d) || exit 2
fail=0
ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1"; fail=1; }
# check <description> <command...>: ok when the command succeeds
check() {
	d=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then ok "$d"; else not_ok "$d"; sed 's/^/# /' "$tmp/out"; fi
}

# is the package known to dpkg (installed, or its configuration files left)?
pkg_present() {
	s=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)
	[ -n "$s" ] && [ "$s" != not-installed ]
}

# the sanse files in the system-wide directories, one path a line
system_files() {
	ls -d "$extdir"/sanse.control "$extdir"/sanse--*.sql "$libdir"/sanse.so \
		"$libdir"/bitcode/sanse "$libdir"/bitcode/sanse.index.bc 2>/dev/null
}

cluster=$tmp/cluster
stop_cluster() {
	[ -f "$cluster/data/postmaster.pid" ] &&
		runuser -u postgres -- "$bindir/pg_ctl" -D "$cluster/data" -m immediate -w stop >/dev/null 2>&1
}

# Leaves the machine as it found it: cluster stopped, package purged, the
# development install back and every file moved aside put back.  Runs once,
# from the end of the test or from the exit trap.
restored=
restore() {
	[ -n "$restored" ] && return
	restored=1
	stop_cluster
	pkg_present && dpkg --purge "$pkg" >>"$tmp/restore.log" 2>&1
	if [ -d "$tmp/aside" ]; then
		$MAKE -s --no-print-directory install >>"$tmp/restore.log" 2>&1
		restore_rc=$?
		# files the development install does not write (older scripts) come back too
		(cd "$tmp/aside" && find . -type f) | while read -r f; do
			[ -e "/$f" ] || { mkdir -p "$(dirname "/$f")"; cp -p "$tmp/aside/$f" "/$f"; }
		done
		return $restore_rc
	fi
}
trap 'restore; rm -rf "$tmp"' EXIT
trap 'exit 2' INT TERM

# 1. the build: Debian's tooling (dpkg-buildpackage, dh --with pgxs_loop)
start=$(date +%s)
if DEB_BUILD_OPTIONS=nocheck $MAKE -s --no-print-directory deb LINTIAN=no >"$tmp/build.log" 2>&1; then
	ok "make deb builds $pkg ($(($(date +%s) - start)) s)"
else
	not_ok "make deb builds $pkg"
	tail -30 "$tmp/build.log" | sed 's/^/# /'
	exit 1
fi
deb=$(ls build/deb/${pkg}_*.deb 2>/dev/null | head -1)
debversion=$(dpkg-deb -f "$deb" Version 2>/dev/null)
check "the .deb is in build/deb ($deb, version $debversion)" test -f "$deb"
check "the package is version $extversion.x of sanse.control" \
	sh -c "case '$debversion' in $extversion.*-*) ;; *) exit 1 ;; esac"

# lintian, with the package's own overrides: no error, no warning
if command -v lintian >/dev/null 2>&1; then
	check "lintian finds no error or warning in the package" \
		lintian --fail-on error,warning build/deb/*.changes
else
	not_ok "lintian is installed (make deps installs it)"
fi

# what it ships: the control file, the current version's script and the
# delta to it, every released script of the Makefile, the library; nothing else
dpkg-deb -c "$deb" | awk '{ print $NF }' | sed 's|^\./|/|' | grep -v '/$' | sort >"$tmp/contents"
data=$(printf 'print-data:\n\t@echo $(DATA) $(DATA_built)\n' | MAKEFLAGS= $MAKE -s --no-print-directory -f Makefile -f - print-data)
missing=
for f in sanse.control $data; do
	grep -qx "$extdir/$(basename "$f")" "$tmp/contents" || missing="$missing $f"
done
grep -qx "$libdir/sanse.so" "$tmp/contents" || missing="$missing sanse.so"
if [ -z "$missing" ]; then
	ok "the package ships sanse.control, sanse.so and every script of the Makefile ($(echo $data | wc -w))"
else
	not_ok "the package ships sanse.control, sanse.so and every script of the Makefile: missing$missing"
fi
others=$(grep -v -e "^$extdir/sanse" -e "^$libdir/sanse.so\$" -e "^/usr/share/doc/$pkg/" \
	-e "^/usr/share/lintian/overrides/$pkg\$" "$tmp/contents")
if [ -z "$others" ]; then
	ok "the package ships nothing outside sanse's files, its doc directory and lintian overrides"
else
	not_ok "the package ships nothing outside sanse's files, its doc directory and lintian overrides:"
	echo "$others" | sed 's/^/#   /'
fi

# 2. the system-wide part, under the lock
exec 9>/tmp/sanse-system.lock
flock 9

# a package left by an interrupted run goes first; the development install aside
pkg_present && dpkg --purge "$pkg" >/dev/null 2>&1
mkdir -p "$tmp/aside"
system_files >"$tmp/before"
while read -r f; do
	mkdir -p "$tmp/aside$(dirname "$f")"
	mv "$f" "$tmp/aside$f"
done <"$tmp/before"
check "no sanse file is left in $extdir and $libdir before the install" \
	sh -c "[ -z \"\$(ls -d '$extdir'/sanse* '$libdir'/sanse* '$libdir'/bitcode/sanse* 2>/dev/null)\" ]"

check "dpkg installs $deb" dpkg -i "$deb"
check "dpkg knows $pkg as installed" \
	test "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed
dpkg -L "$pkg" | sort >"$tmp/listed"
check "the installed files are there: sanse.control, sanse--$extversion.sql, sanse.so" \
	test -f "$extdir/sanse.control" -a -f "$extdir/sanse--$extversion.sql" -a -f "$libdir/sanse.so"

# a fresh cluster, its own: initdb, Unix socket in the temporary directory only
chmod 711 "$tmp" && mkdir -p "$cluster" && chown postgres "$cluster"
if runuser -u postgres -- "$bindir/initdb" -D "$cluster/data" -A trust -U postgres >"$tmp/initdb.log" 2>&1 &&
	runuser -u postgres -- "$bindir/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w \
		-o "-c port=5432 -c listen_addresses='' -c unix_socket_directories='$cluster' -c fsync=off" start >"$tmp/start.log" 2>&1 9>&-; then
	ok "a fresh cluster starts"
else
	not_ok "a fresh cluster starts"
	cat "$tmp/initdb.log" "$tmp/start.log" "$cluster/server.log" 2>/dev/null | sed 's/^/# /'
fi
# psql on the fresh cluster: unaligned, tuples only, stop on error
fresh() {
	PGHOST=$cluster PGPORT=5432 PGUSER=postgres PGDATABASE=postgres \
		PGOPTIONS='-c client_min_messages=warning' \
		psql -X -q -t -A -v ON_ERROR_STOP=1 "$@"
}
# tour <description> <expected output> <sql>: the statement prints exactly that
tour() {
	out=$(fresh -c "SET search_path = sanse, public" -c "SET timezone = 'Asia/Shanghai'" -c "$3" 2>&1)
	if [ "$out" = "$2" ]; then ok "tour: $1"; else not_ok "tour: $1: expected '$2', got '$out'"; fi
}
tour "CREATE EXTENSION sanse CASCADE installs $extversion with ltree and pgcrypto" \
	"$extversion|ltree,pgcrypto,sanse" \
	"CREATE EXTENSION sanse CASCADE;
	 SELECT (SELECT extversion FROM pg_extension WHERE extname = 'sanse'),
	        (SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname <> 'plpgsql')"
tour "the library is the package's" "$libdir/sanse.so" \
	"SELECT DISTINCT regexp_replace(probin, '^\\\$libdir', '$libdir') || '.so' FROM pg_proc
	  WHERE pronamespace = 'sanse'::regnamespace AND probin LIKE '%/sanse'"
tour "risk_tier reads English in any case and Chinese, ordered blue < yellow < red" "red|yellow|t" \
	"SELECT '红色'::risk_tier, ' Yellow '::risk_tier, 'blue'::risk_tier < 'red'"
tour "visit windows: the calendar week after an anchor" \
	"[2024-03-04 00:00:00+08,2024-03-11 00:00:00+08)|t|1 day 12:00:00" \
	"SELECT w, w @> '2024-03-05 12:00+08'::timestamptz, lateness(w, '2024-03-12 12:00+08')
	   FROM window_after('2024-03-01 09:00+08', 'calendar week', 'Asia/Shanghai') w"
tour "a district, a worker and a red resident due within two days" "1|red|2 days" \
	"INSERT INTO area (path, kind, name) VALUES
	   ('q', 'district', 'Q'), ('q.t1', 'town', 'T1'), ('q.t1.v1', 'village', 'V1'),
	   ('q.t1.v1.tg1', 'total_grid', 'TG1'), ('q.t1.v1.tg1.g1', 'general_grid', 'G1'),
	   ('q.t1.v1.tg1.g1.m1', 'micro_grid', 'M1');
	 INSERT INTO worker (name, force, role, area_id)
	 SELECT 'Li', 'grid_officer', 'micro_grid_leader', id FROM area WHERE path = 'q.t1.v1.tg1.g1.m1';
	 INSERT INTO resident (area_id, name, factors, id_number)
	 SELECT id, 'Wang', '{accident_risk,lives_alone}', '51010119400101123X' FROM area WHERE path = 'q.t1.v1.tg1.g1.m1';
	 INSERT INTO carer (resident_id, worker_id) VALUES (1, 1);
	 SELECT id, tier, due_at(next_visit) - opens_at(next_visit) FROM resident"
tour "the door token: 43 URL-safe characters" "43|t" \
	"SELECT length(door_token(1)), door_token(1) ~ '^[A-Za-z0-9_-]{43}\$'"
tour "check_in with the door token returns the visit" "1" \
	"SELECT check_in(door_token(1), 1, now(), '{ask_health,ask_diet,check_gas}')"
tour "the visit is recorded with its worker and checklist" "1|1|{ask_health,ask_diet,check_gas}" \
	"SELECT resident_id, worker_id, checklist FROM visit"
tour "a sweep runs and finds nothing overdue" "0|0|f" "SELECT * FROM sweep()"
tour "the town's coverage: one red resident, not overdue, visited in its window" "T1|1|1|0|1" \
	"SELECT name, residents, red, overdue_now, window_met FROM coverage WHERE kind = 'town'"
tour "DROP EXTENSION sanse removes it" "0" \
	"DROP EXTENSION sanse; SELECT count(*) FROM pg_extension WHERE extname = 'sanse'"
stop_cluster

# 3. the purge leaves nothing behind
check "dpkg --purge removes $pkg" dpkg --purge "$pkg"
check "dpkg no longer knows $pkg" eval '! pkg_present'
left=
while read -r f; do
	[ -f "$f" ] && left="$left $f"
done <"$tmp/listed"
if [ -z "$left" ]; then
	ok "every file dpkg -L listed is gone ($(wc -l <"$tmp/listed") paths)"
else
	not_ok "every file dpkg -L listed is gone: left$left"
fi
check "no sanse file is left in $extdir and $libdir" \
	sh -c "[ -z \"\$(ls -d '$extdir'/sanse* '$libdir'/sanse* '$libdir'/bitcode/sanse* /usr/share/doc/$pkg 2>/dev/null)\" ]"

# 4. the development install back, as the tests after this one expect it
if restore; then
	ok "make install puts the development install back"
else
	not_ok "make install puts the development install back"
	sed 's/^/# /' "$tmp/restore.log"
fi
system_files >"$tmp/after"
check "every sanse file of the system-wide directories before the test is there again" \
	sh -c "! comm -23 '$tmp/before' '$tmp/after' | grep ."

check "the development install is sanse $extversion" \
	grep -qx "default_version = '$extversion'" "$extdir/sanse.control"
exit $fail
