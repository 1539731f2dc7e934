#!/bin/sh
# The province section of RESULTS.md (issue 22): test/bench/province.sh at
# 100x the paper and at SANSE_PROVINCE_SCALE (default 1000x), one after the
# other in the same cluster, side by side: the growth is the ratio.
set -e
cd "$(dirname "$0")/../.."
BIG=${SANSE_PROVINCE_SCALE:-1000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "== province: the screen at 100x and ${BIG}x the paper" >&2
sh test/bench/province.sh sanse_bench_p100 100 >"$out/small"
sh test/bench/province.sh sanse_bench_pbig "$BIG" >"$out/big"
v() { awk -v k="$2" '$1 == k { print $2 }' "$out/$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }
under() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t ? "met" : "NOT met") }'; }
row() {	# $1: key, $2: the query as shown, $3: target in ms
	echo "| $2 | $(v small "$1") | $(v big "$1") | $(ratio "$(v big "$1")" "$(v small "$1")") | $(under "$(v big "$1")" "$3") |"; }
cat <<MD

## The province (issue 22): the screen at 100× and ${BIG}× the paper, side by side

\`test/bench/province.sh\` builds the Q district at each scale with \`sanse_demo.generate\` (the grids at scale / 100 times the
paper's), writes a month of visits, overdue events and closed-loop events directly (triggers off, then
\`rebuild_worker_month()\` and \`carer_gap_rebuild()\`), and times each query as the owner, best of 3 (ms). ${BIG}× can be made
smaller with \`SANSE_PROVINCE_SCALE\` to try it out; this run used ${BIG}×.

| | 100× | ${BIG}× |
|---|---:|---:|
| residents | $(v small residents) | $(v big residents) |
| areas | $(v small areas) | $(v big areas) |
| visits | $(v small visits) | $(v big visits) |
| events | $(v small events) | $(v big events) |
| generating the district (ms) | $(v small generate_ms) | $(v big generate_ms) |
| writing the month (ms) | $(v small month_ms) | $(v big month_ms) |

| query | 100× (ms) | ${BIG}× (ms) | growth | target < 1 s at ${BIG}× |
|---|---:|---:|---:|---|
$(row cov_all "\`coverage\`, every area (\`sum(residents), sum(overdue_now)\`)" 1000)
$(row cov_towns "\`coverage WHERE kind IN ('district', 'town')\`" 1000)
$(row cov_district "\`coverage WHERE path = 'q'\` (the district)" 1000)
$(row cov_town "\`coverage WHERE path = 'q.t1'\` (one town)" 1000)
$(row tier_town "\`coverage_by_tier WHERE path = 'q.t1'\`" 1000)
$(row overdue_towns "\`overdue_events\`, district and towns, one month" 1000)
$(row daily_day "\`grid_daily_report\`, every micro grid, one day" 1000)
$(row rate_month "\`worker_checkin_rate\`, every worker, one month" 1000)
$(row carer_gaps "\`carer_gaps\` (all)" 1000)
$(row loop_district "\`loop_metrics WHERE path = 'q'\`" 1000)
$(row loop_town "\`loop_metrics WHERE path = 'q.t1'\`" 1000)
$(row history_day "\`record_area_day\`, a day after a recorded one ($(v big history_rows) areas, $(v big history_noted) residents noted at ${BIG}×; target ≤ 10 s)" 10000)
| \`record_area_day\`, a day counted from every resident (the first day, or after a load; no target) | $(v small history_full) | $(v big history_full) | $(ratio "$(v big history_full)" "$(v small history_full)") | — |

The day of history is timed as the first sweep after midnight records it: the day before recorded
(counted from every resident, \`history_full\`), then 1 % of the residents written during the day
(0.5 % change tier, 0.2 % move, 0.2 % registered, 0.1 % deactivated), then the day, carried from the
day before by the residents noted (rolled back).

A town's coverage against the district's (target ≤ 0.2): $(awk -v a="$(v small cov_town)" -v b="$(v small cov_district)" 'BEGIN { printf "%.2f", a / b }') at 100×,
$(awk -v a="$(v big cov_town)" -v b="$(v big cov_district)" 'BEGIN { printf "%.2f", a / b }') at ${BIG}×: $(awk -v a="$(v big cov_town)" -v b="$(v big cov_district)" 'BEGIN { print (a <= 0.2 * b ? "met" : "NOT met") }').
MD
