// node-postgres 8 as a new user would drive sanse: run by test/clients.sh with
// pg installed by `make deps` into test/clients/node_modules, against the
// database in PGDATABASE, connecting as the login roles named in
// SANSE_*_USER / SANSE_*_PASSWORD, which hold exactly the grants of the
// README's role recipe (hand grants for functions and the district's
// structure, grant rows of sanse.area_grant for people's rows).  The client
// builds its village SANSE_ROOT (a path under the town the recipe grants the
// supervisor, itself under the app's district); SANSE_OTHER_* name a district
// outside every grant of the recipe (built by test/clients.sh as a superuser),
// of which the app, the printer and BI must see nothing.  Host and port come from the PG* environment
// (pg_virtualenv).  Every value travels as a bind parameter ($1, …: the
// extended protocol), never in the SQL text.  Prints TAP-like "ok - …" lines;
// exits 1 on any failure.
//
//   node node_client.js               the whole walk (district, tokens,
//                                     check-ins, overrides, screens, search_path)
//   node node_client.js search-path   after the README's "Clients" SQL block
//   node node_client.js pooled        the README's pooled login (NOINHERIT):
//                                     a request, then the connection after it
'use strict';
const path = require('path');
const { Client } = require(path.join(__dirname, 'node_modules', 'pg'));

const ROOT = process.env.SANSE_ROOT || 'q.t1.nd';   // this client's village path
const OTHER = {   // a district no grant row of the recipe covers
  path: process.env.SANSE_OTHER_PATH,
  area: process.env.SANSE_OTHER_AREA,
  resident: process.env.SANSE_OTHER_RESIDENT,
};
let failures = 0;

function ok(label, cond, detail) {
  if (cond) {
    console.log(`ok - node-postgres: ${label}`);
  } else {
    failures++;
    console.log(`not ok - node-postgres: ${label}${detail ? ` (${detail})` : ''}`);
  }
}
function eq(label, got, want) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  ok(label, g === w, `got ${g}, want ${w}`);
}

async function connect(name, extra) {
  const c = new Client(Object.assign({
    user: process.env[`SANSE_${name}_USER`],
    password: process.env[`SANSE_${name}_PASSWORD`],
  }, extra || {}));
  await c.connect();
  return c;
}
async function one(c, text, values) {
  const r = await c.query({ text, values, rowMode: 'array' });
  return r.rows[0];
}
async function sqlstate(c, text, values) {
  try {
    await c.query(text, values);
    return 'no error';
  } catch (e) {
    return e.code || String(e);
  }
}

async function district() {
  const app = await connect('APP');
  eq('app role has no sanse on its search_path', (await one(app, 'SHOW search_path'))[0].includes('sanse'), false);

  // --- the district, with bind parameters --------------------------------
  const area = {};
  let p = '';
  for (const kind of ['village', 'total_grid', 'general_grid', 'micro_grid']) {
    p = p ? `${p}.${kind[0]}1` : ROOT;
    area[kind] = (await one(app, 'INSERT INTO sanse.area (path, kind, name) VALUES ($1, $2, $3) RETURNING id',
      [p, kind, `${kind.toUpperCase()} of ${ROOT}`]))[0];
  }
  const microPath = p;
  eq('app inserts four areas village > … > micro grid under its granted district (hand grant on sanse.area)',
    Object.keys(area).length, 4);

  const forces = ['department_staff', 'community_cadre', 'grid_officer', 'service_professional', 'volunteer'];
  const worker = {};
  for (const f of forces) {
    worker[f] = (await one(app, 'INSERT INTO sanse.worker (name, force, area_id) VALUES ($1, $2, $3) RETURNING id',
      [`${f} of ${ROOT}`, f, area.micro_grid]))[0];
  }
  const leader = (await one(app,
    'INSERT INTO sanse.worker (name, force, role, area_id) VALUES ($1, $2, $3, $4) RETURNING id',
    [`leader of ${ROOT}`, 'grid_officer', 'micro_grid_leader', area.micro_grid]))[0];
  ok('app inserts workers of the five forces and a micro grid leader (ids as int8 strings)',
    /^\d+$/.test(leader) && forces.every((f) => /^\d+$/.test(worker[f])), JSON.stringify(worker));

  const res = {};
  for (const [name, factors, want] of [['Wang', ['accident_risk', 'lives_alone'], 'red'],
    ['Zhao', ['partial_care', 'unstable_chronic'], 'yellow'],
    ['Sun', ['mobility_impaired'], 'blue'],
    ['Qian', [], null]]) {
    const [id, tier, win] = await one(app,
      'INSERT INTO sanse.resident (area_id, name, factors) VALUES ($1, $2, $3) RETURNING id, tier, next_visit',
      [area.micro_grid, `${name} of ${ROOT}`, factors]);
    res[name] = id;
    eq(`resident with factors ${JSON.stringify(factors)} gets tier ${want}${want ? ' (a JS string)' : ' (not in the programme)'}`, tier, want);
    if (want) ok(`${name}'s next_visit comes back as a string`, typeof win === 'string' && win.startsWith('['), win);
  }
  eq('an unknown factor is refused with 22023',
    await sqlstate(app, 'INSERT INTO sanse.resident (area_id, name, factors) VALUES ($1, $2, $3)',
      [area.micro_grid, 'Nobody', ['flying']]), '22023');

  // Wang: every force but the volunteer; Zhao: two carers
  for (const f of forces.slice(0, 4)) {
    await app.query('INSERT INTO sanse.carer (resident_id, worker_id) VALUES ($1, $2)', [res.Wang, worker[f]]);
  }
  for (const f of forces.slice(0, 2)) {
    await app.query('INSERT INTO sanse.carer (resident_id, worker_id) VALUES ($1, $2)', [res.Zhao, worker[f]]);
  }
  eq('a second carer of one force is refused with 23505',
    await sqlstate(app, 'INSERT INTO sanse.carer (resident_id, worker_id) VALUES ($1, $2)', [res.Wang, leader]), '23505');

  // --- door tokens from the printer --------------------------------------
  const printer = await connect('PRINTER');
  eq('printer finds the resident by name (its column grant)',
    (await one(printer, 'SELECT id FROM sanse.resident WHERE name = $1', [`Wang of ${ROOT}`]))[0], res.Wang);
  const token = (await one(printer, 'SELECT sanse.door_token($1)', [res.Wang]))[0];
  ok('printer gets a 43-character door token', typeof token === 'string' && token.length === 43, token);
  eq('door_token is the same on a second call', (await one(printer, 'SELECT sanse.door_token($1)', [res.Wang]))[0], token);
  eq('printer (read) may not read factors (42501)', await sqlstate(printer, 'SELECT factors FROM sanse.resident'), '42501');
  eq('printer (read) may not read coordinates (42501)', await sqlstate(printer, 'SELECT lat, lon FROM sanse.resident'), '42501');
  eq('printer (read) may not write residents (42501)',
    await sqlstate(printer, 'UPDATE sanse.resident SET name = name WHERE id = $1', [res.Wang]), '42501');
  eq("printer gets no door token for a resident of another district (22023, 'does not exist')",
    await sqlstate(printer, 'SELECT sanse.door_token($1)', [OTHER.resident]), '22023');
  eq('app may not print door tokens (42501)', await sqlstate(app, 'SELECT sanse.door_token($1)', [res.Wang]), '42501');
  const tokenZhao = (await one(printer, 'SELECT sanse.door_token($1)', [res.Zhao]))[0];

  // --- check-in, the token a bind parameter ------------------------------
  const at = (await one(app, 'SELECT clock_timestamp()::text'))[0];
  const checkin = 'SELECT sanse.check_in($1, $2, $3, $4)';
  const items = ['ask_health', 'ask_diet', 'check_gas'];
  const visit = (await one(app, checkin, [token, worker.grid_officer, at, items]))[0];
  ok('check_in returns a visit id (an int8 string)', /^[1-9]\d*$/.test(visit), visit);
  eq('the same (token, worker, at) again returns the same visit id',
    (await one(app, checkin, [token, worker.grid_officer, at, items]))[0], visit);
  const forged = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
  eq('a forged token is refused with 28000', await sqlstate(app, checkin, [forged, worker.grid_officer, at, items]), '28000');
  eq('a malformed token is refused with 28000',
    await sqlstate(app, checkin, ['not a token', worker.grid_officer, at, items]), '28000');
  eq('a worker who is not a carer (the volunteer) is refused with 42501',
    await sqlstate(app, checkin, [token, worker.volunteer, at, items]), '42501');
  const future = new Date(Date.now() + 3600 * 1000);   // a JS Date, as apps send them
  eq('a check-in an hour in the future is refused with 22008',
    await sqlstate(app, checkin, [token, worker.grid_officer, future, items]), '22008');
  eq('an unknown checklist item is refused with 22023',
    await sqlstate(app, checkin, [token, worker.grid_officer, at, ['ask_health', 'feed_cat']]), '22023');
  const visit2 = (await one(app, 'SELECT sanse.check_in($1, $2)', [tokenZhao, leader]))[0];
  ok("the micro grid's leader checks in at Zhao's door with the defaults (at, checklist)",
    /^\d+$/.test(visit2) && visit2 !== visit, visit2);
  eq('app sees last_visit_at move to the check-in',
    (await one(app, 'SELECT last_visit_at = $1::timestamptz FROM sanse.resident WHERE id = $2', [at, res.Wang]))[0], true);

  // --- overrides: tiers written as bound strings --------------------------
  const upd = (cast) => `UPDATE sanse.resident SET tier_override = $1${cast}, override_reason = $2 WHERE id = $3 RETURNING tier, tier_override`;
  eq('tier_override bound as a plain string is accepted',
    await one(app, upd(''), ['red', 'lives alone since March', res.Sun]), ['red', 'red']);
  eq('tier_override bound as text (assignment cast text -> risk_tier) is accepted',
    await one(app, upd('::text'), ['yellow', 'family visits weekly', res.Sun]), ['yellow', 'yellow']);
  eq('tier_override bound as varchar (assignment cast varchar -> risk_tier) is accepted',
    await one(app, upd('::varchar'), ['红色', 'neighbour reported a fall', res.Sun]), ['red', 'red']);
  eq('a bad tier string is refused with 22P02', await sqlstate(app, upd('::text'), ['green', 'why not', res.Sun]), '22P02');
  eq('an override without a reason is refused with 23502',
    await sqlstate(app, 'UPDATE sanse.resident SET tier_override = $1, override_reason = NULL WHERE id = $2', ['blue', res.Sun]),
    '23502');
  eq('writing tier itself is refused with 42501',
    await sqlstate(app, 'UPDATE sanse.resident SET tier = $1 WHERE id = $2', ['red', res.Qian]), '42501');
  eq('clearing the override gives back the computed tier',
    (await one(app, 'UPDATE sanse.resident SET tier_override = NULL, override_reason = NULL WHERE id = $1 RETURNING tier',
      [res.Sun]))[0], 'blue');

  // --- tiers on the tables: search_path -----------------------------------
  eq("app without sanse on search_path: WHERE tier = 'red' on sanse.resident fails with 42883",
    await sqlstate(app, "SELECT count(*) FROM sanse.resident WHERE tier = 'red'"), '42883');
  eq('app without sanse on search_path: WHERE tier = $1 fails with 42883',
    await sqlstate(app, 'SELECT count(*) FROM sanse.resident WHERE tier = $1', ['red']), '42883');
  const appSp = await connect('APP', { options: '-c search_path=public,sanse' });
  eq("app with options '-c search_path=public,sanse': WHERE tier = 'red' works",
    (await one(appSp, "SELECT count(*) FROM sanse.resident WHERE tier = 'red' AND area_id = $1", [area.micro_grid]))[0], '1');
  eq("… and WHERE tier = $1 (bound) and IN ('red','yellow') work",
    await one(appSp, "SELECT count(*) FILTER (WHERE tier = $1), count(*) FILTER (WHERE tier IN ('red', 'yellow')) " +
      'FROM sanse.resident WHERE area_id = $2', ['yellow', area.micro_grid]), ['1', '2']);

  // --- risk_tier[] ---------------------------------------------------------
  const arrSql = (cast) => `SELECT array_agg(tier ORDER BY id)${cast} FROM sanse.resident WHERE area_id = $1 AND tier IS NOT NULL`;
  eq('a risk_tier[] comes back as the text {red,yellow,blue} (README)',
    (await one(appSp, arrSql(''), [area.micro_grid]))[0], '{red,yellow,blue}');
  eq('risk_tier[]::text[] comes back as a JavaScript array',
    (await one(appSp, arrSql('::text[]'), [area.micro_grid]))[0], ['red', 'yellow', 'blue']);
  eq('a risk_tier[] bound as a JavaScript array of strings is accepted',
    (await one(appSp, 'SELECT count(*) FROM sanse.resident WHERE area_id = $1 AND tier = ANY ($2::risk_tier[])',
      [area.micro_grid, ['red', 'blue']]))[0], '2');

  // --- another district: no grant row, no row ------------------------------
  eq('app sees the other district\'s micro grid (sanse.area has no row-level security)',
    (await one(app, 'SELECT count(*) FROM sanse.area WHERE id = $1', [OTHER.area]))[0], '1');
  eq(`app sees no resident of another district (${OTHER.path}, not granted): by area`,
    (await one(app, 'SELECT count(*) FROM sanse.resident WHERE area_id = $1', [OTHER.area]))[0], '0');
  eq('app sees no resident of another district: by id',
    (await app.query('SELECT id FROM sanse.resident WHERE id = $1', [OTHER.resident])).rowCount, 0);
  eq('app sees no resident outside its district at all',
    (await one(app, 'SELECT count(*) FROM sanse.resident r JOIN sanse.area a ON a.id = r.area_id ' +
      'WHERE a.path::text NOT LIKE $1', [`${ROOT.split('.')[0]}.%`]))[0], '0');
  eq('app updates no resident of another district (0 rows)',
    (await app.query('UPDATE sanse.resident SET name = name WHERE id = $1', [OTHER.resident])).rowCount, 0);
  eq('app may not insert a resident in another district (42501, row-level security)',
    await sqlstate(app, 'INSERT INTO sanse.resident (area_id, name) VALUES ($1, $2)', [OTHER.area, 'Intruder']), '42501');
  eq('app sees no visit or carer of another district',
    await one(app, 'SELECT (SELECT count(*) FROM sanse.visit WHERE area_id = $1), ' +
      '(SELECT count(*) FROM sanse.carer WHERE resident_id = $2)', [OTHER.area, OTHER.resident]), ['0', '0']);

  // --- the supervisor's screens: carer_gaps filtered on tier -------------
  const sup = await connect('SUPERVISOR');
  eq('supervisor has no sanse on its search_path', (await one(sup, 'SHOW search_path'))[0].includes('sanse'), false);
  let r = await sup.query("SELECT resident_id, tier, missing_forces FROM sanse.carer_gaps WHERE tier = 'red' AND area_id = $1",
    [area.micro_grid]);
  eq('carer_gaps.tier is text (type oid 25)', r.fields[1].dataTypeID, 25);
  eq("supervisor: carer_gaps WHERE tier = 'red' without sanse on search_path (tier a string, forces an array)",
    r.rows, [{ resident_id: res.Wang, tier: 'red', missing_forces: ['volunteer'] }]);
  eq('supervisor: carer_gaps WHERE tier = $1 (bound)',
    (await one(sup, 'SELECT count(*) FROM sanse.carer_gaps WHERE tier = $1 AND area_id = $2', ['yellow', area.micro_grid]))[0], '1');
  eq("supervisor reads the check-in's visit",
    await one(sup, 'SELECT resident_id, worker_id FROM sanse.visit WHERE id = $1', [visit]), [res.Wang, worker.grid_officer]);
  eq('supervisor (read on its town): coverage WHERE path = $1 has the exact counts',
    (await sup.query('SELECT kind, residents, red, yellow, blue, overdue_now, window_met FROM sanse.coverage WHERE path = $1',
      [ROOT])).rows, [{ kind: 'village', residents: '3', red: '1', yellow: '1', blue: '1', overdue_now: '0', window_met: '2' }]);
  eq('supervisor: grid_daily_report WHERE path = $1 counts both visits',
    (await one(sup, 'SELECT sum(visits) FROM sanse.grid_daily_report WHERE path = $1', [microPath]))[0], '2');
  eq('supervisor sees no resident of another district',
    (await one(sup, 'SELECT count(*) FROM sanse.visit WHERE area_id = $1', [OTHER.area]))[0], '0');

  // --- the BI analyst: the screen views ------------------------------------
  // BI reads the screen as published: publish now (clients.sh grants it to the sweeper)
  const publisher = await connect('SWEEPER');
  await publisher.query('SELECT sanse.publish_screen()');
  await publisher.end();
  const bi = await connect('BI');
  eq('BI role has no sanse on its search_path', (await one(bi, 'SHOW search_path'))[0].includes('sanse'), false);
  r = await bi.query('SELECT path, kind, residents, red, yellow, blue, overdue_now, window_met, coverage_rate ' +
    'FROM sanse.coverage WHERE path = $1', [ROOT]);
  eq('coverage.path is text (type oid 25)', r.fields[0].dataTypeID, 25);
  eq('BI (aggregate only): coverage WHERE path = $1 hides the small cells (1..4 are null, 0 stays 0), path a JS string', r.rows,
    [{ path: ROOT, kind: 'village', residents: null, red: null, yellow: null, blue: null, overdue_now: '0', window_met: null,
      coverage_rate: null }]);
  eq('BI: coverage WHERE path LIKE $1 gives every level, every resident count hidden',
    await one(bi, 'SELECT count(*), count(residents) FROM sanse.coverage WHERE path LIKE $1', [`${ROOT}%`]), ['4', '0']);
  eq('BI: worker_checkin_rate reads',
    await sqlstate(bi, 'SELECT sum(visits) FROM sanse.worker_checkin_rate WHERE worker_id = $1', [worker.grid_officer]), 'no error');
  eq('BI: grid_daily_report WHERE path = $1 hides the two visits (null)',
    (await one(bi, 'SELECT sum(visits) FROM sanse.grid_daily_report WHERE path = $1', [microPath]))[0], null);
  eq("BI: coverage_by_tier WHERE tier = 'red' has the client's village, hidden (1 red resident)",
    await one(bi, "SELECT count(*), count(residents) FROM sanse.coverage_by_tier WHERE tier = 'red' AND path = $1", [ROOT]),
    ['1', '0']);
  const biRoot = ROOT.split('.')[0];
  eq(`BI: coverage_by_tier WHERE tier = 'red' shows no row outside its grant (${biRoot})`,
    (await one(bi, "SELECT count(*) FROM sanse.coverage_by_tier WHERE tier = 'red' AND path <> $1 AND path NOT LIKE $2",
      [biRoot, `${biRoot}.%`]))[0], '0');
  eq(`BI: coverage shows nothing of another district (${OTHER.path})`,
    (await one(bi, 'SELECT count(*) FROM sanse.coverage WHERE path = $1 OR path LIKE $2', [OTHER.path, `${OTHER.path}.%`]))[0], '0');
  eq('BI: overdue_events reads (none opened here)',
    (await one(bi, 'SELECT count(*) FROM sanse.overdue_events WHERE path = $1', [ROOT]))[0], '0');
  // the README: "a BI analyst: the screen views only (paths and tiers in them
  // are text)", "WHERE tier = 'red' works without any of this"
  const tiered = (await bi.query('SELECT c.table_name FROM information_schema.columns c JOIN information_schema.views v ' +
    "USING (table_schema, table_name) WHERE c.table_schema = 'sanse' AND c.column_name = 'tier' " +
    "AND has_table_privilege(format('%I.%I', c.table_schema, c.table_name), 'SELECT') ORDER BY 1")).rows.map((x) => x.table_name);
  ok('BI: a view the recipe grants to sanse_bi has a tier column to filter on (README: tiers in them are text)',
    tiered.length > 0, 'the BI role can read no relation with a tier column');
  for (const v of tiered) {
    eq(`BI: sanse.${v} WHERE tier = 'red' without sanse on search_path`,
      await sqlstate(bi, `SELECT count(*) FROM sanse.${v} WHERE tier = 'red'`), 'no error');
  }
  eq('BI may not read sanse.resident (42501)', await sqlstate(bi, 'SELECT count(*) FROM sanse.resident'), '42501');
  eq("check_in is for everyone: the BI role's forged token gets 28000, not 42501 for the schema",
    await sqlstate(bi, checkin, [forged, worker.grid_officer, at, items]), '28000');

  // --- the sweep operator --------------------------------------------------
  const sweeper = await connect('SWEEPER');
  eq('sweep operator runs sanse.sweep()', (await one(sweeper, 'SELECT skipped FROM sanse.sweep()'))[0], false);
  eq('app may not run sanse.sweep() (42501)', await sqlstate(app, 'SELECT * FROM sanse.sweep()'), '42501');

  for (const c of [app, appSp, printer, sup, bi, sweeper]) await c.end();
}

async function searchPathBlock() {
  // a new session, no options: only what the README's Clients SQL set applies
  const app = await connect('APP');
  const sp = (await one(app, 'SHOW search_path'))[0];
  eq(`after the README's Clients SQL, the app login role ${process.env.SANSE_APP_USER} (member of sanse_app) compares tiers without options (search_path is ${sp})`,
    await sqlstate(app, "SELECT count(*) FROM sanse.resident WHERE tier = 'red'"), 'no error');
  await app.end();
}

// The README's pooled login (NOINHERIT, a member of each area role): a Pool
// of one connection, one request as the README writes it (BEGIN; SET LOCAL
// ROLE …; SELECT …; COMMIT), then the same connection outside any request.
async function pooled() {
  const fs = require('fs');
  const { Pool } = require(path.join(__dirname, 'node_modules', 'pg'));
  const user = process.env.SANSE_POOLED_USER;
  const pool = new Pool({ user, password: process.env.SANSE_POOLED_PASSWORD, max: 1 });
  const request = fs.readFileSync(process.env.SANSE_POOLED_REQUEST_FILE, 'utf8');
  const want = (process.env.SANSE_POOLED_IDS || '').split(',').filter(Boolean).map(Number);
  const c = await pool.connect();
  try {
    const results = [].concat(await c.query(request));   // the block as one simple query
    const sel = results.find((r) => r.command === 'SELECT');
    const got = sel ? sel.rows.map((r) => Number(r.id)).sort((a, b) => a - b) : null;
    ok(`pooled login ${user}: the README's request sees the ${want.length} residents of ${process.env.SANSE_POOLED_PATH} and no other`,
      want.length > 0 && JSON.stringify(got) === JSON.stringify(want), `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    eq(`pooled login ${user}: after the request's COMMIT the connection acts as itself again`,
      (await c.query('SELECT current_user AS u')).rows[0].u, user);
    let seen;
    try {
      seen = `${(await c.query('SELECT count(*) AS n FROM sanse.resident')).rows[0].n} residents`;
    } catch (e) {
      seen = e.code;
    }
    ok(`pooled login ${user}: on the same connection after the transaction it reads no resident (42501, or 0 rows; both areas hold ${process.env.SANSE_POOLED_BOTH})`,
      seen === '42501' || seen === '0 residents', `got ${seen}`);
  } finally {
    c.release();
    await pool.end();
  }
}

(async () => {
  const phase = process.argv[2] || 'district';
  try {
    await ({ district, 'search-path': searchPathBlock, pooled })[phase]();
  } catch (e) {   // an unexpected error is a failure, never a skip
    console.error(e);
    ok(`${phase} ran to the end`, false, `${e.code || ''} ${e.message}`);
  }
  process.exit(failures ? 1 : 0);
})();
