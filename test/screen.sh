#!/bin/sh
# The screen page (巡屏) in a real browser: builds the demo district and its
# replay with test/demo/run_demo.sh (the same generator, replay, role and
# page-building step as `make demo`, into a temporary directory), opens the
# page in Debian's headless Chromium (test/screen/check_page.js, puppeteer-core
# over the DevTools protocol) and checks that every chart drew its marks for
# the data — counted here independently from the tables — and that the page
# loaded nothing but its own files.  Then it reads what each panel says of
# itself (its title, its counts, its "N of M hidden") and checks it against
# SQL run as the owner (areas, small cells by sanse.min_cell, carers, the
# true count below 80 %) and the views read as the aggregate role; and that
# test/demo/screen_page.sh refuses every role that would see a small cell
# exactly.  Prints TAP-like lines; runs against the cluster in the PG*
# environment (make test's pg_virtualenv).
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
drop_roles() {
	for r_ in "$role" "${role}_read" "${role}_care" "${role}_member" "${role}_owner" "${role}_none" \
	          "${db}_civil_affairs" "${db}_health" "${db}_disabled_federation"; do	# the demo's loaders
		psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r_" >/dev/null 2>&1
	done
}
cleanup() {
	dropdb --if-exists "$db" >/dev/null 2>&1
	drop_roles
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
drop_roles
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
# sanse.min_cell is defined once the library is loaded (by the first call)
min=$(q -c "SELECT sanse.cell(0, true)" -c "SELECT current_setting('sanse.min_cell')" | tail -1)
towns=$(q -c "SELECT count(*) FROM sanse.area WHERE kind = 'town' AND path <@ 'q'")
town_names=$(q -c "SELECT json_agg(name ORDER BY path) FROM sanse.area WHERE kind = 'town' AND path <@ 'q'")
history_days=$(q -c "SELECT count(*) FROM sanse.area_day_recorded WHERE areas IS NOT NULL")
# the trend's days: as the owner, those whose four open levels at the district
# are all small cells (1 to min_cell - 1: each hidden, so the day has no point);
# as the aggregate role, the days it reads and those with some level shown
history_small=$(q -c "SELECT count(*) FROM sanse.area_day_recorded d
                        JOIN sanse.area_day h ON h.day = d.day AND h.area_id = (SELECT id FROM sanse.area WHERE path = 'q')
                       WHERE d.areas IS NOT NULL
                         AND h.open_level_1 BETWEEN 1 AND $min - 1 AND h.open_level_2 BETWEEN 1 AND $min - 1
                         AND h.open_level_3 BETWEEN 1 AND $min - 1 AND h.open_level_4 BETWEEN 1 AND $min - 1")
set -- $(qa -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE coalesce(open_level_1, open_level_2, open_level_3, open_level_4) IS NOT NULL)
                         FROM sanse.coverage_history WHERE path = 'q'")
trend_days=$1 trend_points=$2
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
echo "# towns $towns, history days $history_days (the view: $trend_days, $trend_points with a level shown; $history_small all small cells), histogram bins $bins, loop rates $loop_rates, loop medians $loop_medians, min_cell $min"

# --- the page in headless Chromium ----------------------------------------------
if ! node test/screen/check_page.js "$tmp/out/screen.html" "$tmp/out/screen.png" >"$tmp/result.json" 2>"$tmp/check.err"; then
	say "not ok - headless Chromium opened the page: $(tail -3 "$tmp/check.err" "$tmp/result.json" | tr '\n' ' ')"
	exit 1
fi
result=$tmp/result.json
r() { node -e "const r = JSON.parse(require('fs').readFileSync('$result', 'utf8')); const v = ($1); console.log(typeof v === 'object' ? JSON.stringify(v) : v)" "$2"; }
# what a panel's title or note says, matched by a regular expression: its
# groups, thousands' commas taken out ('' when it says nothing of the kind)
said() {
	r "(() => { const m = ((r.panels || {})['$1'] || {})['$2'] || ''; const x = m.match(new RegExp(process.argv[1]));
	            return x ? x.slice(1).map(g => g.replace(/,/g, '')).join(' ') : ''; })()" "$3"
}
check "the page rendered without errors" "$(r "r.errors.concat(r.page_error ? [r.page_error] : []).join('; ')")" ""
check "every chart finished rendering into an SVG (renderer: svg)" "$(r "r.svg.join(',') + ':' + Object.values(r.finished).every(Boolean)")" "treemap,trend,checkin,loop,worst,devices:true"
check "the page loaded no network resource (only file:// requests, page and echarts.min.js)" \
	"$(r "r.requests.filter(u => !u.startsWith('file://')).join(' ') + ':' + r.requests.map(u => u.split('/').pop()).sort().join(',')")" ":echarts.min.js,screen.html"
check "the treemap's tooltip shows an area name that is markup as text" "$(r "r.tooltip_escapes")" "true"
check "treemap: one tile per town at the top level" "$(r "r.treemap.tiles")" "$towns"
check "treemap: a label for every town" \
	"$(r "$town_names.filter(n => r.treemap.labels.some(t => t.replace(/^▶ */, '') === n)).length")" "$towns"
check "trend: one day on the x axis per recorded day of the history (the owner's count, at least one), each of them read by the aggregate role" \
	"$(r "r.trend.axis_days") $trend_days $( [ "$history_days" -gt 0 ] && echo days)" "$history_days $history_days days"
# a day whose four levels are all hidden is a gap across the chart: no point
check "trend: a point on every day on which the view shows some level, none on a day whose levels are all hidden (at least the owner's $history_small days of small cells only)" \
	"$(r "r.trend.days + ' ' + r.trend.days_with_value") $( [ $((history_days - trend_points)) -ge "$history_small" ] && echo at-least)" \
	"$trend_points $trend_points at-least"
check "histogram: one bar per non-empty bin of carers' check-in rates (at least one)" "$(r "r.checkin.bars") $( [ "$bins" -gt 0 ] && echo bars)" "$bins bars"
check "loop: the 98 % target line" "$(r "r.loop.target_lines + ':' + r.loop.labels.some(t => /98%/.test(t))")" "1:true"
check "loop: one bar per month and kind with a response rate" "$(r "r.loop.bars")" "$loop_rates"
check "loop: the median arrival at a warning, a circle per month the role may see it (and its legend mark)" \
	"$(r "r.loop.median_marks")" "$( [ "$loop_medians" -gt 0 ] && echo $((loop_medians + 1)) || echo 0)"
# devices (issue 21): the district and its towns as the aggregate role reads
# device_status: a bar per count shown above 0; the note's hidden cells
dev_where="path = 'q' OR path ~ '^q[.][^.]+\$'"
dev_bars=$(qa -c "SELECT count(*) FILTER (WHERE devices > 0) + count(*) FILTER (WHERE silent > 0) + count(*) FILTER (WHERE open_warnings > 0)
                    FROM sanse.device_status WHERE $dev_where")
dev_cells=$(qa -F ' ' -c "SELECT count(*) FILTER (WHERE devices IS NULL) + count(*) FILTER (WHERE silent IS NULL)
                                 + count(*) FILTER (WHERE open_warnings IS NULL), 3 * count(*)
                            FROM sanse.device_status WHERE $dev_where")
check "devices: one bar per area (the district and its towns) and count shown above 0" "$(r "r.devices.bars")" "$dev_bars"
check "devices note: 'hidden: k of N cells' as device_status hides them for the aggregate role" \
	"$(said devices note 'hidden: (\d+) of (\d+) cells')" "$dev_cells"

# --- each panel's claims against SQL: what it says it shows and hides -------
# Per level below the page's area: as the owner, its areas, those with
# residents, and those whose coverage rate is a small cell by the threshold
# (residents, or overdue, from 1 to min_cell - 1); as the aggregate role,
# the rates the view shows and hides, and its visible zeros.  The view may
# hide more than the threshold (cells suppressed with others), never less.
# Sets depth: the finest level down to which at most one in ten areas with
# residents is hidden (the first level below the area when it is not).
plural() { case $1 in town) echo '镇街 towns' ;; village) echo '村社区 villages' ;; total_grid) echo '总网格 total grids' ;;
	general_grid) echo '一般网格 general grids' ;; micro_grid) echo '微网格 micro grids' ;; esac; }
check_levels() {
	q -F ' ' -c "WITH k(ord, kind) AS (VALUES (2, 'town'), (3, 'village'), (4, 'total_grid'), (5, 'general_grid'), (6, 'micro_grid'))
	             SELECT k.kind,
	                    (SELECT count(*) FROM sanse.area a WHERE a.kind = k.kind AND a.path <@ '$1' AND a.path <> '$1'),
	                    (SELECT count(*) FROM sanse.coverage_all c WHERE c.kind = k.kind AND c.path LIKE '$1.%' AND c.residents > 0),
	                    (SELECT count(*) FROM sanse.coverage_all c WHERE c.kind = k.kind AND c.path LIKE '$1.%' AND c.residents > 0
	                        AND (c.residents < $min OR c.overdue_now BETWEEN 1 AND $min - 1))
	               FROM k ORDER BY k.ord" >"$tmp/levels.owner"
	qa -F ' ' -c "SELECT kind, count(coverage_rate), count(*) FILTER (WHERE coverage_rate IS NULL AND residents IS DISTINCT FROM 0),
	                     count(*) FILTER (WHERE residents = 0)
	                FROM sanse.coverage WHERE path LIKE '$1.%' GROUP BY kind" >"$tmp/levels.view"
	depth='' depth_done=''
	while read -r kind areas nonempty small; do
		[ "$areas" -gt 0 ] || continue
		set -- $(awk -v k="$kind" '$1 == k { print $2, $3, $4 }' "$tmp/levels.view")
		shown=${1:-0} hidden=${2:-0} empty=${3:-0}
		name=$(plural "$kind")
		echo "# $kind: $areas areas, $nonempty with residents, $small small cells by the threshold (owner); view: $shown shown, $hidden hidden, $empty empty"
		check "treemap note: '$name: H of A hidden', A the owner's count of areas, H the rates the view hides" \
			"$(said treemap note "$name: ([\\d,]+) of ([\\d,]+) hidden")" "$hidden $areas"
		check "$kind: the view hides at least the owner's small cells ($small), and shows, hides or shows empty each area" \
			"$( [ "$hidden" -ge "$small" ] && echo at-least):$((shown + hidden + empty))" "at-least:$areas"
		if [ -z "$depth_done" ] && [ $((hidden * 10)) -le $((shown + hidden)) ]; then depth=$kind; else depth_done=1; fi
		[ -n "$depth" ] || { depth=$kind; depth_alone=1; }
		eval "shown_$kind=$shown hidden_$kind=$hidden areas_$kind=$areas nonempty_$kind=$nonempty"
	done <"$tmp/levels.owner"
	check "treemap: drawn down to the finest level with at most one in ten areas hidden, or the first level alone" \
		"$(said treemap note 'Drawn(?: down to|:) [^ ]+ ([a-z ]+) \(')" "$(plural "$depth" | sed 's/^[^ ]* //')"
}
depth_alone=''
check_levels q

# the worst areas, at the level the title names (the old page: micro grids)
wkind=$(r "[['micro_grid', 'micro grids'], ['general_grid', 'general grids'], ['total_grid', 'total grids'], ['village', 'villages'], ['town', 'towns']]
           .filter(([k, p]) => ((r.panels || {}).worst || {title: ''}).title.includes(p)).map(([k]) => k)[0] || ''")
eval "wshown=\${shown_$wkind:-0} whidden=\${hidden_$wkind:-0} wareas=\${areas_$wkind:-0} wnonempty=\${nonempty_$wkind:-0}"
check "worst: the title names the level the treemap is drawn down to" "$wkind" "$depth"
if [ -z "$depth_alone" ]; then
	check "worst: the level ranked has at most one in ten of its areas with residents hidden (owner: $wnonempty with residents; the view shows $wshown rates)" \
		"$( [ $(( (wnonempty - wshown) * 10 )) -le "$wnonempty" ] && echo mostly-visible || echo "$((wnonempty - wshown)) of $wnonempty hidden")" "mostly-visible"
else
	check "worst: the level ranked is the first below the district, and the treemap's note says more than one in ten of it is hidden" \
		"$(r "/more than one in ten hidden, the first level only/.test(r.panels.treemap.note)")" "true"
fi
nworst=$((wshown < 10 ? wshown : 10))
check "worst: the title counts its bars, 10 or every area shown at the level" \
	"$(said worst title '(?:The|All) (\d+) ') $(r "r.worst.bars")" "$nworst $nworst"
check "worst note: 'H of A hidden' at the level ranked, as the view hides it" \
	"$(said worst note "$(plural "$wkind"): ([\\d,]+) of ([\\d,]+) hidden")" "$whidden $wareas"
check "worst note: ranked among S of A shown" "$(said worst note 'Ranked among ([\d,]+) of ([\d,]+) ')" "$wshown $wareas"
# the bars: the lowest rates the aggregate role sees at the level, at the
# rates the owner computes for the same areas
qa -c "SELECT path FROM sanse.coverage WHERE kind = '$wkind' AND path LIKE 'q.%' AND coverage_rate IS NOT NULL
        ORDER BY coverage_rate, overdue_now DESC NULLS LAST, path LIMIT 10" >"$tmp/worst.paths"
want=$(q -c "SELECT string_agg(name || '=' || regexp_replace(to_char(100 * coverage_rate, 'FM990.00'), '\.0+$', '') || '%', ';' ORDER BY name)
               FROM sanse.coverage_all WHERE path = ANY (string_to_array('$(tr '\n' ' ' <"$tmp/worst.paths")', ' '))")
check "worst: the bars name the lowest rates shown at the level, at the owner's true rates" \
	"$(r "process.argv[1].split(';').filter(x => x).every(x => { const [n, p] = x.split('='); return r.worst.labels.includes(n) && r.worst.labels.includes(p); }) + ':' + process.argv[1].split(';').filter(x => x).length" "$want")" \
	"true:$nworst"

# the histogram of check-in rates, for the month the page names
month=$(said checkin note '^(\d{4}-\d{2})')
set -- $(q -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE t.windows_met::numeric / (t.windows_met + t.windows_missed) < 0.8),
                             count(*) FILTER (WHERE t.windows_met + t.windows_missed < $min OR t.windows_met BETWEEN 1 AND $min - 1)
                        FROM sanse.worker_tally t JOIN sanse.worker w ON w.id = t.worker_id JOIN sanse.area a ON a.id = w.area_id
                       WHERE a.path <@ 'q' AND t.month = to_date('$month', 'YYYY-MM') AND t.windows_met + t.windows_missed > 0")
carers=$1 below80=$2 carers_small=$3
set -- $(qa -F ' ' -c "SELECT count(checkin_rate), count(*) FILTER (WHERE checkin_rate IS NULL), count(*) FILTER (WHERE checkin_rate < 0.8)
                         FROM sanse.worker_checkin_rate WHERE month = to_date('$month', 'YYYY-MM') AND windows_due IS DISTINCT FROM 0")
cshown=$1 chidden=$2 cbelow=$3
echo "# check-in $month: $carers carers with windows due, $below80 below 80 %, $carers_small small cells by the threshold (owner); view: $cshown shown, $chidden hidden, $cbelow shown below 80 %"
check "histogram: its bars, shown and hidden, add up to every carer with windows due in $month (the owner's count)" \
	"$(r "(r.checkin.values || []).reduce((a, v) => a + Number(v), 0)")" "$carers"
check "histogram: a bar in the hidden colour holds the carers whose rate is hidden" \
	"$(r "r.checkin.hidden_bars + ':' + (r.checkin.values || []).slice(-1)[0]")" "$( [ "$chidden" -gt 0 ] && echo "1:$chidden" || r "'0:' + (r.checkin.values || []).slice(-1)[0]")"
check "histogram note: 'shown: S of N carers', 'hidden: H of N carers' as the view shows them, N the owner's count" \
	"$(said checkin note 'shown: ([\d,]+) of ([\d,]+) carers') / $(said checkin note 'hidden: ([\d,]+) of ([\d,]+) carers')" "$cshown $carers / $chidden $carers"
check "check-in: the view hides at least the owner's small cells ($carers_small)" "$( [ "$chidden" -ge "$carers_small" ] && echo yes)" "yes"
check "histogram note: below 80 % 'between L and L + hidden', which brackets the owner's true count ($below80)" \
	"$(set -- $(said checkin note 'below 80%: between ([\d,]+) and ([\d,]+)'); [ $# -eq 2 ] && [ "$1" -le "$below80" ] && [ "$below80" -le "$2" ] && echo "$1 $2")" \
	"$cbelow $((cbelow + chidden))"
check "the carers-below-80% figure at the top gives the same range" \
	"$(r "((r.kpis || []).find(k => /below 80%/.test(k.label)) || {}).value")" \
	"$(node -p "[$cbelow, $((cbelow + chidden))].map(n => n.toLocaleString('en-US')).join(' – ')")"

# the trend: open overdue events by level at the district, per recorded day
levels_sql() { for l in 1 2 3 4; do printf "count(*) FILTER (WHERE $1)%s" "$([ $l -lt 4 ] && echo ,)" | sed "s/#/$l/g"; done; }
set -- $(q -F ' ' -c "SELECT $(levels_sql "coalesce(h.open_level_#, 0) BETWEEN 1 AND $min - 1")
                        FROM sanse.area_day_recorded d
                        LEFT JOIN sanse.area_day h ON h.day = d.day AND h.area_id = (SELECT id FROM sanse.area WHERE path = 'q')
                       WHERE d.areas IS NOT NULL")
o1=$1 o2=$2 o3=$3 o4=$4
set -- $(qa -F ' ' -c "SELECT $(levels_sql "open_level_# IS NULL") FROM sanse.coverage_history WHERE path = 'q'")
v1=$1 v2=$2 v3=$3 v4=$4
check "trend note: 'hidden (gaps): X of 4 x days points (L1 a, L2 b, L3 c, L4 d)' as the view hides them" \
	"$(said trend note 'hidden \(gaps\): (\d+) of (\d+) points \(L1 (\d+), L2 (\d+), L3 (\d+), L4 (\d+)\)')" \
	"$((v1 + v2 + v3 + v4)) $((4 * history_days)) $v1 $v2 $v3 $v4"
check "trend: the view hides at least the owner's small cells per level ($o1 $o2 $o3 $o4)" \
	"$( [ "$v1" -ge "$o1" ] && [ "$v2" -ge "$o2" ] && [ "$v3" -ge "$o3" ] && [ "$v4" -ge "$o4" ] && echo yes)" "yes"
check "trend: each level draws a point on every day it is not hidden" \
	"$(r "r.trend.per_level.join(' ')")" "$((history_days - v1)) $((history_days - v2)) $((history_days - v3)) $((history_days - v4))"

# the loop: response rates by month and kind at the district
set -- $(q -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE raised BETWEEN 1 AND $min - 1 OR answered_in_time BETWEEN 1 AND $min - 1)
                        FROM sanse.loop_metrics_all WHERE path = 'q'")
lrows=$1 lsmall=$2
lhidden=$(qa -c "SELECT count(*) FROM sanse.loop_metrics WHERE path = 'q' AND response_rate IS NULL")
check "loop note: 'hidden: k of N month × kind rates', N the owner's rows, k as the view hides them (at least the owner's $lsmall small cells)" \
	"$(said loop note 'hidden: (\d+) of (\d+) month × kind rates') $( [ "$lhidden" -ge "$lsmall" ] && echo at-least)" "$lhidden $lrows at-least"

# --- screen_page.sh draws for an aggregate audience only -------------------
# without SCREEN_ROLE, as the superuser running the tests: refused, no page
if PGDATABASE=$db sh test/demo/screen_page.sh "$tmp/super" >/dev/null 2>&1 || [ -e "$tmp/super/screen.html" ]; then
	say "not ok - screen_page.sh refuses to draw as a superuser (every small cell exact)"
else
	say "ok - screen_page.sh refuses to draw as a superuser (every small cell exact)"
fi
# roles that would see some area exactly, and one that sees none: a read
# grant, a care grant, a read grant inherited (with an aggregate one of its
# own), a member of the extension's owner, no grant at all
owner=$(q -c "SELECT extowner::regrole FROM pg_extension WHERE extname = 'sanse'")
q -c "CREATE ROLE ${role}_read NOLOGIN" -c "CREATE ROLE ${role}_care NOLOGIN" \
  -c "CREATE ROLE ${role}_member NOLOGIN IN ROLE ${role}_read" -c "CREATE ROLE ${role}_owner NOLOGIN IN ROLE $owner" \
  -c "CREATE ROLE ${role}_none NOLOGIN" \
  -c "INSERT INTO sanse.area_grant (role, path, access) VALUES ('${role}_read', 'q.t1', 'read'), ('${role}_care', 'q.t2', 'care'),
                                                             ('${role}_member', 'q', 'aggregate'), ('${role}_owner', 'q', 'aggregate')"
for who in 'read:holds a read or care grant' 'care:holds a read or care grant' 'member:holds a read or care grant' \
	'owner:the owner of sanse' 'none:has no aggregate grant'; do
	r_=${role}_${who%%:*}
	if SCREEN_ROLE=$r_ PGDATABASE=$db sh test/demo/screen_page.sh "$tmp/$r_" >/dev/null 2>"$tmp/$r_.err" || [ -e "$tmp/$r_/screen.html" ]; then
		say "not ok - screen_page.sh refuses to draw as $r_ (${who#*:}): it wrote a page"
	elif grep -q "${who#*:}" "$tmp/$r_.err"; then
		say "ok - screen_page.sh refuses to draw as $r_: ${who#*:}"
	else
		say "not ok - screen_page.sh refuses to draw as $r_ and says why ($(head -1 "$tmp/$r_.err"))"
	fi
done
# the page of one town, whose first level below (villages) may itself be
# mostly hidden: drawn alone then, and said so
SCREEN_ROOT=q.t1 SCREEN_ROLE=$role PGDATABASE=$db sh test/demo/screen_page.sh "$tmp/town" >/dev/null
if node test/screen/check_page.js "$tmp/town/screen.html" >"$tmp/town.json" 2>"$tmp/check.err"; then
	result=$tmp/town.json
	echo "# the page of q.t1"
	check "q.t1: the page rendered without errors" "$(r "r.errors.concat(r.page_error ? [r.page_error] : []).join('; ')")" ""
	depth_alone=''
	check_levels q.t1
	check "q.t1: the treemap's note says whether every level drawn is mostly visible" \
		"$(r "/more than one in ten hidden, the first level only/.test(r.panels.treemap.note) + ':' + /at most one in ten hidden per level drawn/.test(r.panels.treemap.note)")" \
		"$( [ -n "$depth_alone" ] && echo true:false || echo false:true)"
	check "q.t1: the worst panel ranks at the level drawn" \
		"$(r "((r.panels.worst.title.match(/ (towns|villages|total grids|general grids|micro grids)[ ,]/) || [])[1]) || ''")" "$(plural "$depth" | sed 's/^[^ ]* //')"
	result=$tmp/result.json
else
	say "not ok - headless Chromium opened the page of q.t1: $(tail -3 "$tmp/check.err" | tr '\n' ' ')"
fi
# the page again after a town was renamed to markup that would close the script
q -c "UPDATE sanse.area SET name = 'T1 </script><i>x</i>' WHERE path = 'q.t1'"
SCREEN_ROLE=$role PGDATABASE=$db sh test/demo/screen_page.sh "$tmp/markup" >/dev/null
check "a town named '</script><i>x</i>': the page's data holds no raw '<'" \
	"$(grep -c '^const DATA = .*T1 \\u003c/script' "$tmp/markup/screen.html"):$(sed -n '/^const DATA = /p' "$tmp/markup/screen.html" | grep -c '<')" "1:0"
exit $fail
