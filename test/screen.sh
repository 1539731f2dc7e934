#!/bin/sh
# The screen page (巡屏) in a real browser: builds the demo district and its
# replay with test/demo/run_demo.sh (the same generator, replay, role and
# page-building step as `make demo`, into a temporary directory), opens the
# page in Debian's headless Chromium (test/screen/check_page.js, puppeteer-core
# over the DevTools protocol) and checks that every chart drew its marks for
# the data — counted here independently from the tables — and that the page
# loaded nothing but its own files.  Prints TAP-like lines; runs against the
# cluster in the PG* environment (make test's pg_virtualenv).
#
# SCREEN_DAYS and SCREEN_SCALE size the replay (default 30 days of the
# paper-sized district; `make demo` replays 90).  SCREEN_KEEP=dir keeps the page and
# its screenshot there.
cd "$(dirname "$0")/.." || exit 2
db=sanse_screen_test
role=sanse_screen_test
days=${SCREEN_DAYS:-30}
scale=${SCREEN_SCALE:-1}
fail=0
say() { echo "$1"; case $1 in "not ok"*) fail=1 ;; esac; }
check() { if [ "$2" = "$3" ]; then say "ok - $1"; else say "not ok - $1 (got '$2', want '$3')"; fi; }
tmp=$(mktemp -d)
cleanup() {
	dropdb --if-exists "$db" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
	if [ -n "$SCREEN_KEEP" ]; then mkdir -p "$SCREEN_KEEP" && cp -r "$tmp"/out/. "$SCREEN_KEEP"/; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
q() { psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$db" "$@"; }
# as the page's reader: the aggregate-only role
qa() { PGOPTIONS="-c role=$role" q "$@"; }

# --- the browser and the libraries are installed (never skipped) ------------
if [ -x /usr/bin/chromium ] || [ -n "$CHROMIUM" ]; then
	say "ok - $(${CHROMIUM:-/usr/bin/chromium} --version 2>/dev/null | head -1)"
else
	say "not ok - Debian's chromium is installed (run 'make deps')"
fi
if [ -f test/screen/node_modules/echarts/dist/echarts.min.js ] && [ -f test/screen/node_modules/puppeteer-core/package.json ]; then
	say "ok - echarts $(node -p "require('./test/screen/node_modules/echarts/package.json').version") and puppeteer-core $(node -p "require('./test/screen/node_modules/puppeteer-core/package.json').version") in test/screen/node_modules"
else
	say "not ok - echarts and puppeteer-core in test/screen/node_modules (run 'make deps')"
	exit 1
fi

# --- make demo's district, replay and page ------------------------------------
dropdb --if-exists "$db" >/dev/null 2>&1
psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
if SANSE_DEMO_DB=$db SCREEN_ROLE=$role SCREEN_OUT="$tmp/out" DAYS=$days SCALE=$scale \
	sh test/demo/run_demo.sh >"$tmp/demo.log" 2>&1 && [ -s "$tmp/out/screen.html" ]; then
	say "ok - run_demo.sh ($days days, scale $scale) wrote screen.html and echarts.min.js ($(grep -c . "$tmp/out/screen.html") lines)"
else
	say "not ok - run_demo.sh wrote the page"
	tail -20 "$tmp/demo.log" | sed 's/^/# /'
	exit 1
fi
[ -s "$tmp/out/echarts.min.js" ] || say "not ok - echarts.min.js beside the page"
if grep -Eiq '(src|href)=["'"'"']?(https?:)?//' "$tmp/out/screen.html"; then
	say "not ok - the page names no remote script, style or link"
else
	say "ok - the page names no remote script, style or link"
fi

# --- what the charts must show, counted from the tables (as the owner) and
#     from the views as the page's aggregate-only reader --------------------
towns=$(q -c "SELECT count(*) FROM sanse.area WHERE kind = 'town' AND path <@ 'q'")
town_names=$(q -c "SELECT json_agg(name ORDER BY path) FROM sanse.area WHERE kind = 'town' AND path <@ 'q'")
history_days=$(q -c "SELECT count(*) FROM sanse.area_day_recorded WHERE areas IS NOT NULL")
worst=$(qa -c "SELECT least(10, count(*)) FROM sanse.coverage WHERE kind = 'micro_grid' AND coverage_rate IS NOT NULL")
# non-empty bins of the histogram: the page's month (the last full one with a
# rate, else the current one) and bins, recomputed here
bins=$(qa -c "WITH cr AS (SELECT month, checkin_rate FROM sanse.worker_checkin_rate WHERE windows_due IS DISTINCT FROM 0),
                   m AS (SELECT coalesce((SELECT max(month) FROM cr WHERE checkin_rate IS NOT NULL
                                             AND month < date_trunc('month', now() AT TIME ZONE sanse.current_zone())),
                                         date_trunc('month', now() AT TIME ZONE sanse.current_zone())::date) AS month)
              SELECT count(DISTINCT CASE WHEN checkin_rate < 0.5 THEN 0 WHEN checkin_rate >= 1 THEN 100
                                         WHEN checkin_rate >= 0.9 THEN floor(checkin_rate * 20) * 5 ELSE floor(checkin_rate * 10) * 10 END)
                FROM cr JOIN m USING (month) WHERE checkin_rate IS NOT NULL")
loop_rates=$(qa -c "SELECT count(*) FROM sanse.loop_metrics WHERE path = 'q' AND response_rate > 0")
loop_medians=$(qa -c "SELECT count(*) FROM sanse.loop_metrics WHERE path = 'q' AND kind = 'warning' AND median_time_to_arrive IS NOT NULL")
echo "# towns $towns, history days $history_days, histogram bins $bins, loop rates $loop_rates, loop medians $loop_medians, worst micro grids $worst"

# --- the page in headless Chromium ----------------------------------------------
if ! node test/screen/check_page.js "$tmp/out/screen.html" "$tmp/out/screen.png" >"$tmp/result.json" 2>"$tmp/check.err"; then
	say "not ok - headless Chromium opened the page: $(tail -3 "$tmp/check.err" "$tmp/result.json" | tr '\n' ' ')"
	exit 1
fi
r() { node -e "const r = JSON.parse(require('fs').readFileSync('$tmp/result.json', 'utf8')); const v = ($1); console.log(typeof v === 'object' ? JSON.stringify(v) : v)"; }
check "the page rendered without errors" "$(r "r.errors.concat(r.page_error ? [r.page_error] : []).join('; ')")" ""
check "every chart finished rendering into an SVG (renderer: svg)" "$(r "r.svg.join(',') + ':' + Object.values(r.finished).every(Boolean)")" "treemap,trend,checkin,loop,worst:true"
check "the page loaded no network resource (only file:// requests, page and echarts.min.js)" \
	"$(r "r.requests.filter(u => !u.startsWith('file://')).join(' ') + ':' + r.requests.map(u => u.split('/').pop()).sort().join(',')")" ":echarts.min.js,screen.html"
check "the treemap's tooltip shows an area name that is markup as text" "$(r "r.tooltip_escapes")" "true"
# without SCREEN_ROLE, as the superuser running the tests: refused, no page
if PGDATABASE=$db sh test/demo/screen_page.sh "$tmp/super" >/dev/null 2>&1 || [ -e "$tmp/super/screen.html" ]; then
	say "not ok - screen_page.sh refuses to draw as a superuser (every small cell exact)"
else
	say "ok - screen_page.sh refuses to draw as a superuser (every small cell exact)"
fi
# the page again after a town was renamed to markup that would close the script
q -c "UPDATE sanse.area SET name = 'T1 </script><i>x</i>' WHERE path = 'q.t1'"
SCREEN_ROLE=$role PGDATABASE=$db sh test/demo/screen_page.sh "$tmp/markup" >/dev/null
check "a town named '</script><i>x</i>': the page's data holds no raw '<'" \
	"$(grep -c '^const DATA = .*T1 \\u003c/script' "$tmp/markup/screen.html"):$(sed -n '/^const DATA = /p' "$tmp/markup/screen.html" | grep -c '<')" "1:0"
check "treemap: one tile per town at the top level" "$(r "r.treemap.tiles")" "$towns"
check "treemap: a label for every town" \
	"$(r "$town_names.filter(n => r.treemap.labels.some(t => t.replace(/^▶ */, '') === n)).length")" "$towns"
check "trend: one point per history day (at least one day)" "$(r "r.trend.days") $( [ "$history_days" -gt 0 ] && echo days)" "$history_days days"
check "trend: four series, one per level, each with a point on every day it is shown" \
	"$(r "r.trend.per_level.length + ':' + r.trend.per_level.every(n => n <= r.trend.days) + ':' + (r.trend.per_level[0] > 0)")" "4:true:true"
check "histogram: one bar per non-empty bin of carers' check-in rates (at least one)" "$(r "r.checkin.bars") $( [ "$bins" -gt 0 ] && echo bars)" "$bins bars"
check "loop: the 98 % target line" "$(r "r.loop.target_lines + ':' + r.loop.labels.some(t => /98%/.test(t))")" "1:true"
check "loop: one bar per month and kind with a response rate" "$(r "r.loop.bars")" "$loop_rates"
check "loop: the median arrival at a warning, a circle per month the role may see it (and its legend mark)" \
	"$(r "r.loop.median_marks")" "$( [ "$loop_medians" -gt 0 ] && echo $((loop_medians + 1)) || echo 0)"
check "worst ten: 10 bars, or as many micro grids as have a rate the role may see" "$(r "r.worst.bars")" "$worst"
exit $fail
