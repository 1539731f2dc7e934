#!/bin/sh
# make bench, issue 23: the screen on a hot standby against the primary, and
# a failover's losses and outage.  Runs test/standby.sh on the demo's
# district at scale 1 over 30 days (SANSE_STANDBY_SCALE, _DAYS) and
# test/failover.sh, both with clusters of their own made from the binaries of
# the server the PG* environment names, and prints a section of RESULTS.md.
cd "$(dirname "$0")/../.." || exit 2
res=$(mktemp)
trap 'rm -f "$res"' EXIT
SANSE_STANDBY_RESULT=$res SANSE_STANDBY_SCALE=${SANSE_STANDBY_SCALE:-1} SANSE_STANDBY_DAYS=${SANSE_STANDBY_DAYS:-30} \
	SANSE_STANDBY_LOOP=1 SANSE_STANDBY_ROUNDS=${SANSE_STANDBY_ROUNDS:-7} sh test/standby.sh >"$res.standby" 2>&1
st_rc=$?
SANSE_STANDBY_RESULT=$res sh test/failover.sh >"$res.failover" 2>&1
fo_rc=$?
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v + 0 <= t + 0) ? "met" : "NOT met" }'; }
set -- $(grep '^district ' "$res")
residents=$2 areas=$3 visits=$4 events=$5
set -- $(grep '^screen ' "$res")
tp=$2 ts=$3 ratio=$4 rounds=$5
set -- $(grep '^failover ' "$res")
lost=$2 acked=$3 secs=$4
cat <<MD

## Screen views on a hot standby against the primary (issue 23)

\`test/standby.sh\` with the demo's district at scale ${SANSE_STANDBY_SCALE:-1} over ${SANSE_STANDBY_DAYS:-30} days ($residents residents, $areas
areas, $visits visits, $events events, the screen published, VACUUM ANALYZE), a streaming hot standby of it made with
\`pg_basebackup -R\`, both on this machine. The same query (\`SELECT count(*) FROM (SELECT * FROM sanse.<view>) x\`)
timed inside each server (a DO block), best of 3, the median of $rounds rounds, the servers taking turns; as
\`standby_agg\` (\`aggregate\` on the district: the published rows) and \`standby_care\` (\`care\` on it: computed live).
Every view's rows were first checked to be the same on both servers, for both roles.

| role | view | primary (ms) | standby (ms) | standby / primary |
|---|---|---:|---:|---:|
$(grep '^view ' "$res" | awk '{ printf "| `%s` | `%s` | %s | %s | %.2f |\n", $2, $3, $4, $5, ($4 > 0 ? $5 / $4 : 0) }')
| all | the 14 above | $tp | $ts | $ratio |

Target: at most 1.2× — $(verdict "$ratio" 1.2) ($ratio). test/standby.sh: $(grep -c '^ok' "$res.standby") ok, $(grep -c '^not ok' "$res.standby") not ok (exit $st_rc).

## Failover without loss (issue 23)

\`test/failover.sh\`: a primary with a synchronous standby (\`synchronous_standby_names\`, \`synchronous_commit = on\`,
fsync on), two check-in clients, a closed-loop client (warnings raised and arrived at) and a sweep client connected with
libpq's multi-host string (\`target_session_attrs=read-write\`); the primary's postmaster and every backend killed with
\`kill -9\` after 25 s, the standby promoted with \`pg_ctl promote\` as soon as the primary stops answering.

| acknowledged check-ins | lost (target 0) | seconds from the kill until check-ins succeed again |
|---:|---:|---:|
| $acked | $lost | $secs |

The seconds include the test's own failure detection (\`pg_isready\` every 0.1 s) and promotion; a real orchestrator's
detection delay (e.g. pg_auto_failover's or Patroni's timeouts, seconds to tens of seconds) comes on top.
test/failover.sh: $(grep -c '^ok' "$res.failover") ok, $(grep -c '^not ok' "$res.failover") not ok (exit $fo_rc).
MD
rm -f "$res.standby" "$res.failover"
