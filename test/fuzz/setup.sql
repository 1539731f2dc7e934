-- Fuzz driver for sanse (test/fuzz.sh).  Schema fuzz holds the random value
-- generators, one generator of calls per category and fuzz.run(), which runs
-- a batch of calls, each in its own subtransaction, and records the SQLSTATE
-- of every refusal in fuzz.outcome.  Every call is announced first with a
-- NOTICE ("fuzz <category> <batch>#<n>: <sql>"), so when one kills the
-- backend the last NOTICE psql printed is the reproducer.
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS fuzz CASCADE;
CREATE SCHEMA fuzz;

CREATE TABLE fuzz.outcome (category text, batch int, id int, call text, sqlstate text, message text);
CREATE TABLE fuzz.skip (category text, batch int, id int);
CREATE TYPE fuzz.pair AS (t sanse.risk_tier, w sanse.visit_window);
CREATE TABLE fuzz.bin_tier (v sanse.risk_tier);
CREATE TABLE fuzz.bin_window (v sanse.visit_window);
CREATE TABLE fuzz.bin_tier_arr (v sanse.risk_tier[]);
CREATE TABLE fuzz.bin_window_arr (v sanse.visit_window[]);
CREATE TABLE fuzz.bin_pair (v fuzz.pair);

-----------------------------------------------------------------------------
-- random helpers (all driven by setseed, so a batch is repeatable)
-----------------------------------------------------------------------------
CREATE FUNCTION fuzz.r(lo bigint, hi bigint) RETURNS bigint LANGUAGE sql VOLATILE
AS $$ SELECT (lo + floor(random()::numeric * (hi::numeric - lo + 1)))::bigint $$;
CREATE FUNCTION fuzz.chance(p float8) RETURNS bool LANGUAGE sql VOLATILE
AS $$ SELECT random() < p $$;
CREATE FUNCTION fuzz.pick(a text[]) RETURNS text LANGUAGE sql VOLATILE
AS $$ SELECT a[fuzz.r(1, cardinality(a))] $$;
CREATE FUNCTION fuzz.pickv(VARIADIC a text[]) RETURNS text LANGUAGE sql VOLATILE
AS $$ SELECT a[fuzz.r(1, cardinality(a))] $$;

-- one character: ASCII, controls, delimiters of our text forms, CJK (the
-- Chinese tier names among them), zero-width and astral characters; in a
-- SQL_ASCII database raw bytes 0x80-0xff, i.e. invalid UTF-8.
CREATE FUNCTION fuzz.rand_char() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	x float8 := random();
BEGIN
	IF x < 0.45 THEN RETURN chr(fuzz.r(32, 126)::int);
	ELSIF x < 0.52 THEN RETURN chr(fuzz.r(1, 31)::int);
	ELSIF x < 0.62 THEN RETURN fuzz.pickv('[', ']', '(', ')', ',', '"', '\', ' ', '{', '}', '''', '%', '-', '_', '+', '/', '=', ':', '.', '$');
	ELSIF current_setting('server_encoding') <> 'UTF8' THEN RETURN chr(fuzz.r(127, 255)::int);
	ELSIF x < 0.75 THEN RETURN chr(fuzz.r(19968, 40959)::int);
	ELSIF x < 0.85 THEN RETURN fuzz.pickv('红', '黄', '蓝', '色', chr(8203), chr(65279), chr(12288), chr(160));
	ELSIF x < 0.93 THEN RETURN chr(fuzz.r(128, 55295)::int);
	ELSE RETURN chr(fuzz.r(65536, 1114111)::int);
	END IF;
END $$;

CREATE FUNCTION fuzz.rand_str(maxlen int DEFAULT 40) RETURNS text LANGUAGE sql VOLATILE
AS $$ SELECT coalesce(string_agg(fuzz.rand_char(), ''), '') FROM generate_series(1, fuzz.r(0, maxlen)) $$;

-- a small edit of a (usually valid) string
CREATE FUNCTION fuzz.mutate(s text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	n int := greatest(length(s), 1);
	p int := fuzz.r(1, n);
BEGIN
	CASE fuzz.r(0, 11)
		WHEN 0 THEN RETURN overlay(s PLACING fuzz.rand_char() FROM p FOR 0);
		WHEN 1 THEN RETURN overlay(s PLACING '' FROM p FOR 1);
		WHEN 2 THEN RETURN upper(s);
		WHEN 3 THEN RETURN E' \t\n' || s || E'\r\n ';
		WHEN 4 THEN RETURN left(s, p);
		WHEN 5 THEN RETURN s || s;
		WHEN 6 THEN RETURN overlay(s PLACING fuzz.rand_char() FROM p FOR 1);
		WHEN 7 THEN RETURN s || fuzz.rand_str(5);
		WHEN 8 THEN RETURN repeat(s, fuzz.r(2, 300)::int);
		WHEN 9 THEN RETURN s || repeat(' ', fuzz.r(1, 300)::int);
		WHEN 10 THEN RETURN fuzz.rand_str(3) || s;
		ELSE RETURN replace(replace(s, ',', '","'), ' ', E'\\ ');
	END CASE;
END $$;

-----------------------------------------------------------------------------
-- pools of meaningful text, so random inputs reach past the first check
-----------------------------------------------------------------------------
CREATE FUNCTION fuzz.pool(kind text) RETURNS text[] LANGUAGE sql STABLE AS $$
SELECT CASE kind
	WHEN 'tier' THEN ARRAY['red', 'yellow', 'blue', '红', '黄', '蓝', '红色', '黄色', '蓝色', 'RED', ' Yellow ', 'bLuE', 'green', '']
	WHEN 'window' THEN ARRAY['[2024-03-01 00:00+08,2024-03-03 00:00+08)', '["March 1, 2024 08:00 UTC","March 2, 2024 08:00 UTC")',
		'[2024-03-03 00:00+08,2024-03-01 00:00+08)', '[2024-03-01,2024-03-01)', '[-infinity,infinity)', '[epoch,now)', '[now,infinity)',
		'[4713-01-01 00:00:00+00 BC,294276-12-31 23:59:59.999999+00)', '[4714-11-24 00:00:00+00 BC,294277-01-01 00:00:00+00)',
		'[allballs,today)', '[today,tomorrow)', '[yesterday,today)', '[2024-03-10 02:30 America/New_York,2024-03-10 03:30 America/New_York)',
		'["2024-03-01 00:00\"+08","2024-03-02")', '[2024-03-01 00:00+08,2024-03-03 00:00+08]', '(2024-03-01,2024-03-02)', '[,)', '[', '[)',
		'[ "a" , "b" )', '[J2451187,J2451188)', '[1999-01-08 04:05:06 PST,1999-01-09 04:05:06 +25:00)', '[0001-01-01,9999-12-31)']
	WHEN 'cadence' THEN ARRAY['rolling 2 days', 'calendar week', 'calendar month', 'calendar day', 'ROLLING 36 hours', 'rolling P1DT12H',
		'rolling -1 day', 'rolling 0', 'rolling 1 microsecond', 'rolling 178000000 years', 'rolling 2147483647 days', 'rolling -2147483648 months',
		'rolling 1 day -25 hours', 'rolling @ 1 day ago', 'calendar year', 'calendar', 'rolling', 'rolling  ', 'calendar weeks', 'rolling 1 mon 1 day 1 hour',
		'rolling 9223372036854775807 microseconds', 'rolling infinity', 'Calendar Week ']
	WHEN 'zone' THEN ARRAY['Asia/Shanghai', 'UTC', 'America/New_York', 'Europe/London', 'Pacific/Apia', 'Atlantic/Azores', 'America/Havana',
		'EST', 'PST8PDT', '+08', 'UTC+8', '<+08>-8', 'posix/Asia/Shanghai', 'Europe/Nowhere', 'localtime', 'Factory', '../../../../etc/passwd',
		'Asia/Shanghai' || repeat(' ', 300), repeat('A', 300), 'cst', 'CST', 'Antarctica/Vostok', 'America/St_Johns', '', ' ', 'Z', 'zulu', 'Asia/Kathmandu']
	WHEN 'factor' THEN sanse.factor_names() || ARRAY['unknown_factor', 'LIVES_ALONE', '', ' lives_alone']
	WHEN 'checklist' THEN sanse.checklist_items() || ARRAY['ask_wealth', 'ASK_HEALTH', '']
	WHEN 'timestamp' THEN ARRAY['2024-03-01 09:00+08', 'infinity', '-infinity', 'epoch', 'now', 'today', '4713-01-01 00:00:00+00 BC',
		'294276-12-31 23:59:59.999999+00', '2024-03-10 02:30 America/New_York', '2024-11-03 01:30 America/New_York', '1970-01-01 00:00+14',
		'2000-02-29 23:59:59.999999-12', '1582-10-10', '0001-01-01 00:00+00']
	WHEN 'interval' THEN ARRAY['0', '-1 day', '1 microsecond', '4 hours', '1 day', '3 days', '178000000 years', '-178000000 years',
		'2147483647 days', '-2147483648 days', '2147483647 months', '@ 1 day ago', 'P1DT12H', '1 day -25 hours', '1 mon -30 days',
		'9223372036854775807 microseconds', '-9223372036854775808 microseconds', '5 minutes']
	WHEN 'kind' THEN ARRAY['district', 'town', 'village', 'total_grid', 'general_grid', 'micro_grid', 'Micro_grid', 'grid', '']
	WHEN 'force' THEN ARRAY['department_staff', 'community_cadre', 'grid_officer', 'service_professional', 'volunteer', 'police', '']
	WHEN 'role' THEN ARRAY['member', 'micro_grid_leader', 'general_grid_leader', 'total_grid_leader', 'task_force', 'boss', '']
	WHEN 'idnumber' THEN ARRAY['51010119400101123X', ' 51010119400101123x ', '510101194502021234', '', 'x', '０１２３']
	ELSE ARRAY['']
END $$;

-- a random text: a pool entry (kept, mutated), random characters, 1 MB, NULL
CREATE FUNCTION fuzz.gen_text(flavour text DEFAULT NULL) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	x float8 := random();
	f text := coalesce(flavour, fuzz.pickv('tier', 'window', 'cadence', 'zone', 'factor', 'checklist', 'timestamp', 'interval', 'idnumber', 'token'));
	s text;
BEGIN
	IF x < 0.04 THEN RETURN 'NULL';
	ELSIF x < 0.06 THEN	-- 1 MB
		s := fuzz.pickv('x', '红', 'red ', ' ', '"', '\\', '[', 'rolling 2 days', 'a,');
		RETURN format('repeat(%L, %s)', s, 1048576 / octet_length(s));
	ELSIF x < 0.09 THEN	-- bytes as text: invalid UTF-8 is refused (22021) unless the database is SQL_ASCII
		RETURN format('convert_from(%L::bytea, %L)', fuzz.rand_bytes(fuzz.r(0, 12)::int),
			CASE WHEN current_setting('server_encoding') = 'UTF8' THEN fuzz.pickv('UTF8', 'LATIN1', 'GB18030', 'EUC_CN') ELSE 'SQL_ASCII' END);
	ELSIF x < 0.12 AND f = 'token' THEN
		RETURN format('sanse.door_token(%s)', fuzz.some_id('resident'));
	ELSIF x < 0.70 THEN
		IF f = 'token' THEN
			s := CASE WHEN fuzz.chance(0.5) THEN (SELECT sanse.door_token_sign(nonce) FROM sanse.door_token ORDER BY nonce OFFSET fuzz.r(0, 5) LIMIT 1) END;
			s := coalesce(s, (SELECT string_agg(substr('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', fuzz.r(1, 64)::int, 1), '')
			                    FROM generate_series(1, CASE WHEN fuzz.chance(0.7) THEN 43 ELSE fuzz.r(0, 50)::int END)));
		ELSE
			s := fuzz.pick(fuzz.pool(f));
		END IF;
		IF fuzz.chance(0.5) THEN
			s := fuzz.mutate(coalesce(s, ''));
		END IF;
		RETURN quote_literal(coalesce(s, ''));
	ELSE
		RETURN quote_literal(fuzz.rand_str(CASE WHEN fuzz.chance(0.1) THEN 2000 ELSE 40 END));
	END IF;
END $$;

CREATE FUNCTION fuzz.rand_bytes(n int) RETURNS bytea LANGUAGE sql VOLATILE
AS $$ SELECT coalesce(string_agg(set_byte('\x00'::bytea, 0, fuzz.r(0, 255)::int), ''::bytea), ''::bytea) FROM generate_series(1, n) $$;

-- an id of a row of a sanse table, or a number nobody has
CREATE FUNCTION fuzz.some_id(tbl text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	id bigint;
BEGIN
	IF fuzz.chance(0.85) THEN
		EXECUTE format('SELECT %s FROM sanse.%I ORDER BY 1 OFFSET $1 LIMIT 1',
		               CASE tbl WHEN 'carer' THEN 'resident_id' ELSE 'id' END, tbl)
			INTO id USING fuzz.r(0, 30);
		IF id IS NOT NULL THEN
			RETURN id::text;
		END IF;
	END IF;
	RETURN fuzz.pickv('0', '-1', '9223372036854775807', '(-9223372036854775807 - 1)', '2147483648', '1', '2', '3', fuzz.r(1, 100000)::text);
END $$;

CREATE FUNCTION fuzz.gen_text_array(flavour text DEFAULT NULL) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	f text := coalesce(flavour, fuzz.pickv('factor', 'factor', 'checklist', 'tier'));
	el text[] := '{}';
BEGIN
	CASE fuzz.r(0, 13)
		WHEN 0 THEN RETURN 'NULL::text[]';
		WHEN 1 THEN RETURN '''{}''::text[]';
		WHEN 2 THEN RETURN 'ARRAY[NULL]::text[]';
		WHEN 3 THEN RETURN format('''{{%s,%s},{%s,NULL}}''::text[]', fuzz.pick(fuzz.pool(f)), fuzz.pick(fuzz.pool(f)), fuzz.pick(fuzz.pool(f)));
		WHEN 4 THEN RETURN format('''[%s:%s]={%s,%s}''::text[]', fuzz.r(-5, 5), fuzz.r(6, 7), fuzz.pick(fuzz.pool(f)), fuzz.pick(fuzz.pool(f)));
		WHEN 5 THEN RETURN format('array_fill(%L::text, ARRAY[%s])', fuzz.pick(fuzz.pool(f)), fuzz.pickv('1000', '100000', '0', '2,2,2'));
		WHEN 6 THEN RETURN format('ARRAY[repeat(%L, 1048576)]', fuzz.pickv('x', 'a'));
		WHEN 7 THEN RETURN format('''{{{%s}}}''::text[]', fuzz.pick(fuzz.pool(f)));
		ELSE
			FOR i IN 1..fuzz.r(0, 6) LOOP
				el := el || CASE WHEN fuzz.chance(0.07) THEN 'NULL' WHEN fuzz.chance(0.85) THEN quote_literal(fuzz.pick(fuzz.pool(f)))
				                 ELSE fuzz.gen_text() END;
			END LOOP;
			RETURN format('ARRAY[%s]::text[]', array_to_string(el, ', '));
	END CASE;
END $$;

CREATE FUNCTION fuzz.gen_timestamptz() RETURNS text LANGUAGE sql VOLATILE AS $$
SELECT CASE fuzz.r(0, 9)
	WHEN 0 THEN 'NULL::timestamptz'
	WHEN 1 THEN format('%L::timestamptz', fuzz.pick(fuzz.pool('timestamp')))
	WHEN 2 THEN format('%L::timestamptz', fuzz.pick(fuzz.pool('timestamp')))
	WHEN 3 THEN format('now() + %L::interval', fuzz.pick(fuzz.pool('interval')))
	WHEN 4 THEN format('now() - interval ''%s seconds''', fuzz.r(-1000, 10000000))
	WHEN 5 THEN format('to_timestamp(%s)', fuzz.r(-210866803200, 9224318015999))
	ELSE format('%L::timestamptz', to_timestamp(fuzz.r(0, 2000000000)) + interval '1 microsecond' * fuzz.r(0, 999999))
END $$;

CREATE FUNCTION fuzz.gen_interval() RETURNS text LANGUAGE sql VOLATILE AS $$
SELECT CASE fuzz.r(0, 5)
	WHEN 0 THEN 'NULL::interval'
	WHEN 1 THEN format('make_interval(months => %s, days => %s, secs => %s)', fuzz.r(-1000, 1000), fuzz.r(-1000, 1000), fuzz.r(-100000, 100000))
	ELSE format('%L::interval', fuzz.pick(fuzz.pool('interval')))
END $$;

CREATE FUNCTION fuzz.gen_window() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	CASE fuzz.r(0, 6)
		WHEN 0 THEN RETURN 'NULL::sanse.visit_window';
		WHEN 1 THEN RETURN format('%L::sanse.visit_window', fuzz.pick(fuzz.pool('window')));
		WHEN 2 THEN RETURN '''[4713-01-01 00:00:00+00 BC,294276-12-31 23:59:59.999999+00)''::sanse.visit_window';
		WHEN 3 THEN RETURN format('sanse.visit_window(%s, %s)', fuzz.gen_timestamptz(), fuzz.gen_timestamptz());
		WHEN 4 THEN RETURN format('(SELECT next_visit FROM sanse.resident ORDER BY id OFFSET %s LIMIT 1)', fuzz.r(0, 10));
		ELSE RETURN format('(SELECT sanse.visit_window(t, t + %L::interval) FROM (SELECT %s AS t) s)', fuzz.pickv('1 microsecond', '2 days', '1 month', '1000 years'), fuzz.gen_timestamptz());
	END CASE;
END $$;

-- a SQL expression of the given type: valid values, edge values and NULLs
CREATE FUNCTION fuzz.gen(typ regtype, flavour text DEFAULT NULL) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	t text := format_type(typ, NULL);
	e text;
BEGIN
	IF fuzz.chance(0.05) THEN
		RETURN format('NULL::%s', t);
	END IF;
	CASE t
		WHEN 'text', 'character varying', 'name', 'cstring', '"char"' THEN
			e := format('(%s)::%s', fuzz.gen_text(flavour), t);
		WHEN 'text[]' THEN e := fuzz.gen_text_array(flavour);
		WHEN 'timestamp with time zone' THEN e := fuzz.gen_timestamptz();
		WHEN 'timestamp without time zone' THEN e := format('(%s)::timestamp', fuzz.gen_timestamptz());
		WHEN 'date' THEN e := format('(%s)::date', fuzz.gen_timestamptz());
		WHEN 'interval' THEN e := fuzz.gen_interval();
		WHEN 'bigint', 'integer', 'smallint', 'oid', 'numeric' THEN
			e := CASE WHEN flavour IS NOT NULL AND fuzz.chance(0.7) THEN fuzz.some_id(flavour)
			          ELSE fuzz.pickv('0', '-1', '1', '2', '3', '4', '5', '9223372036854775807', '(-9223372036854775807 - 1)',
			                          '2147483647', '(-2147483647 - 1)', '32767', fuzz.r(-100000, 100000)::text) END;
			e := format('(%s)::%s', e, t);
		WHEN 'double precision', 'real' THEN
			e := format('%L::%s', fuzz.pickv('NaN', 'Infinity', '-Infinity', '0', '-0', '1e308', '-1e-308', '90', '-90.0000001', '180', '31.2', '121.5', fuzz.r(-200, 200)::text), t);
		WHEN 'boolean' THEN e := fuzz.pickv('true', 'false', 'NULL::boolean');
		WHEN 'sanse.risk_tier' THEN e := format('%L::sanse.risk_tier', fuzz.pickv('red', 'yellow', 'blue'));
		WHEN 'sanse.risk_tier[]' THEN e := fuzz.pickv('''{red,NULL,blue}''::sanse.risk_tier[]', '''{}''::sanse.risk_tier[]', '''{{red},{blue}}''::sanse.risk_tier[]', '''[3:3]={yellow}''::sanse.risk_tier[]');
		WHEN 'sanse.visit_window' THEN e := fuzz.gen_window();
		WHEN 'sanse.visit_window[]' THEN e := format('ARRAY[%s, NULL, %s]', fuzz.gen_window(), fuzz.gen_window());
		WHEN 'bytea' THEN
			e := CASE fuzz.r(0, 4) WHEN 0 THEN 'sanse.door_token_nonce()' WHEN 1 THEN 'decode(repeat(''ff'', 1048576), ''hex'')'
			          WHEN 2 THEN format('%L::bytea', fuzz.rand_bytes(15)) ELSE format('%L::bytea', fuzz.rand_bytes(fuzz.r(0, 40)::int)) END;
		WHEN 'ltree' THEN
			e := format('%L::ltree', CASE WHEN fuzz.chance(0.8) THEN coalesce((SELECT path::text FROM sanse.area ORDER BY id OFFSET fuzz.r(0, 20) LIMIT 1), 'q')
			                                    || CASE WHEN fuzz.chance(0.7) THEN '.' || fuzz.pickv('a', 'b', 'x1', 'm9', 'z_z') ELSE '' END
			                              ELSE fuzz.pickv('', 'a..b', 'a.b.c.d.e.f.g', repeat('a.', 200) || 'a', 'A_b') END);
		WHEN 'jsonb' THEN e := fuzz.pickv('''{}''::jsonb', '''[1,2]''::jsonb', '''null''::jsonb', '''"red"''::jsonb');
		WHEN 'integer[]', 'bigint[]' THEN e := format('''{1,NULL,%s}''::%s', fuzz.r(-5, 5), t);
		WHEN 'uuid' THEN e := 'gen_random_uuid()';
		WHEN 'sanse.event[]' THEN
			e := CASE fuzz.r(0, 4)
				WHEN 0 THEN '''{}''::sanse.event[]'
				WHEN 1 THEN 'ARRAY[NULL]::sanse.event[]'
				WHEN 2 THEN '(SELECT array_agg(e) FROM sanse.event e)'
				ELSE format('ARRAY[jsonb_populate_record(NULL::sanse.event, %L)]',
				            jsonb_build_object('id', fuzz.r(-1, 1000), 'resident_id', fuzz.some_id('resident'), 'area_id', fuzz.some_id('area'),
				                               'due_at', now() - interval '1 day' * fuzz.r(-40, 40), 'tier', fuzz.pickv('red', 'blue'),
				                               'charged_to', ARRAY[fuzz.some_id('worker')::bigint, NULL, fuzz.some_id('worker')::bigint]))
			END;
		ELSE
			e := format('NULL::%s', t);
	END CASE;
	RETURN e;
END $$;

-----------------------------------------------------------------------------
-- running calls
-----------------------------------------------------------------------------
CREATE FUNCTION fuzz.try(category text, batch int, id int, sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text;
	msg text;
BEGIN
	RAISE NOTICE 'fuzz % %#%: %', category, batch, id, left(replace(sql, E'\n', ' '), 600);
	BEGIN
		EXECUTE sql;
		IF sql LIKE '/* undo */%' THEN
			RAISE SQLSTATE 'FZ000';	-- undo what the statements did
		END IF;
		state := '00000';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		IF state = 'FZ000' THEN
			state := '00000';
			msg := NULL;
		END IF;
	END;
	INSERT INTO fuzz.outcome VALUES (category, batch, id, left(sql, 2000), state, left(msg, 300));
	RETURN state;
END $$;

-----------------------------------------------------------------------------
-- category types: text input of both types (as calls, casts, arrays, records)
-----------------------------------------------------------------------------
CREATE FUNCTION fuzz.gen_types() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	tier bool := fuzz.chance(0.4);
	typ text := CASE WHEN tier THEN 'sanse.risk_tier' ELSE 'sanse.visit_window' END;
	v text := fuzz.gen_text(CASE WHEN fuzz.chance(0.8) THEN CASE WHEN tier THEN 'tier' ELSE 'window' END END);
BEGIN
	IF v = 'NULL' THEN v := quote_literal(fuzz.rand_str(10)); END IF;
	CASE fuzz.r(0, 6)
		WHEN 0 THEN RETURN format('SELECT %s_in((%s)::cstring)::text', typ, v);
		WHEN 1 THEN RETURN format('SELECT (%s)::text::%s::text', v, typ);
		WHEN 2 THEN RETURN format('SELECT %s::%s::text', v, typ);
		WHEN 3 THEN	-- inside an array literal, with a NULL and quoting
			RETURN format('SELECT (''{'' || quote_ident(%s) || '',NULL}'')::%s[]::text', v, typ);
		WHEN 4 THEN RETURN format('SELECT (''{{'' || %s || ''},{'' || %s || ''}}'')::%s[]::text', v, v, typ);
		WHEN 5 THEN RETURN format('SELECT (''('' || %s || '','')::fuzz.pair::text', v);
		ELSE RETURN format('SELECT x::text FROM (VALUES (%s::%s), (NULL)) s(x) ORDER BY x', v, typ);
	END CASE;
END $$;

-----------------------------------------------------------------------------
-- category binary: COPY ... (FORMAT binary) files, so risk_tier_recv and
-- visit_window_recv run on crafted bytes (alone, in arrays, in records)
-----------------------------------------------------------------------------
CREATE FUNCTION fuzz.bin_field(data bytea) RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT CASE WHEN data IS NULL THEN int4send(-1) ELSE int4send(length(data)) || data END $$;

CREATE FUNCTION fuzz.bin_ts() RETURNS bigint LANGUAGE sql VOLATILE AS $$
SELECT CASE fuzz.r(0, 14)
	WHEN 0 THEN 0 WHEN 1 THEN -1 WHEN 2 THEN 9223372036854775807 WHEN 3 THEN -9223372036854775807 - 1
	WHEN 4 THEN -211813488000000000 WHEN 5 THEN -211813488000000001 WHEN 6 THEN 9223371331200000000
	WHEN 7 THEN 9223371331199999999 WHEN 8 THEN 9223371331200000001 WHEN 9 THEN 762480000000000
	ELSE fuzz.r(-211813488000000000, 9223371331199999999) END $$;

CREATE FUNCTION fuzz.bin_scalar(tier bool) RETURNS bytea LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	a bigint;
BEGIN
	IF fuzz.chance(0.04) THEN RETURN NULL; END IF;
	IF fuzz.chance(0.02) THEN RETURN decode(repeat('01', 1048576), 'hex'); END IF;
	IF tier THEN
		IF fuzz.chance(0.8) THEN
			RETURN set_byte('\x00'::bytea, 0, CASE WHEN fuzz.chance(0.3) THEN fuzz.pickv('0', '1', '2', '3', '4', '255', '128')::int ELSE fuzz.r(0, 255)::int END);
		END IF;
		RETURN fuzz.rand_bytes(fuzz.pickv('0', '2', '3', '8')::int);
	END IF;
	IF fuzz.chance(0.85) THEN
		a := fuzz.bin_ts();
		RETURN int8send(a) || int8send(CASE fuzz.r(0, 3) WHEN 0 THEN a WHEN 1 THEN CASE WHEN a < 9223372036854775807 THEN a + 1 ELSE a END ELSE fuzz.bin_ts() END);
	END IF;
	RETURN fuzz.rand_bytes(fuzz.pickv('0', '8', '15', '17', '32')::int);
END $$;

CREATE FUNCTION fuzz.bin_value(tbl text) RETURNS bytea LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	tier bool := tbl LIKE 'bin_tier%';
	elemtype int := CASE WHEN tier THEN 'sanse.risk_tier'::regtype::oid ELSE 'sanse.visit_window'::regtype::oid END;
	ndim int;
	dims int[] := '{}';
	n int := 1;
	b bytea;
BEGIN
	IF tbl IN ('bin_tier', 'bin_window') THEN
		RETURN fuzz.bin_scalar(tier);
	ELSIF tbl = 'bin_pair' THEN
		ndim := CASE WHEN fuzz.chance(0.85) THEN 2 ELSE fuzz.pickv('0', '1', '3', '-1')::int END;
		b := int4send(ndim);
		FOR i IN 1..least(greatest(ndim, 0), 3) LOOP
			b := b || int4send(CASE WHEN fuzz.chance(0.9) THEN CASE WHEN i = 1 THEN 'sanse.risk_tier'::regtype::oid ELSE 'sanse.visit_window'::regtype::oid END::int
			                        ELSE fuzz.pickv('23', '25', '0', '18')::int END)
			        || fuzz.bin_field(fuzz.bin_scalar(i = 1));
		END LOOP;
		RETURN b;
	END IF;
	-- arrays
	ndim := CASE WHEN fuzz.chance(0.75) THEN 1 ELSE fuzz.pickv('0', '2', '3', '6', '7', '-1', '100')::int END;
	b := int4send(ndim) || int4send(fuzz.pickv('0', '1', '1', '2')::int)
	     || int4send(CASE WHEN fuzz.chance(0.9) THEN elemtype::int ELSE fuzz.pickv('23', '25', '0', '18')::int END);
	FOR i IN 1..least(greatest(ndim, 0), 6) LOOP
		dims := dims || CASE WHEN fuzz.chance(0.95) THEN fuzz.r(0, 3)::int ELSE fuzz.pickv('2147483647', '-1', '1000000')::int END;
		n := least(n::bigint * greatest(dims[i], 0), 1000);
		b := b || int4send(dims[i]) || int4send(CASE WHEN fuzz.chance(0.9) THEN fuzz.r(-3, 3)::int ELSE fuzz.pickv('2147483647', '-2147483648', '2147483646')::int END);
	END LOOP;
	IF ndim <= 0 THEN n := 0; END IF;
	FOR i IN 1..least(n + fuzz.pickv('0', '0', '0', '-1', '1')::int, 12) LOOP
		b := b || fuzz.bin_field(fuzz.bin_scalar(tier));
	END LOOP;
	RETURN b;
END $$;

-- returns the statements; writes the file the COPY reads
CREATE FUNCTION fuzz.gen_binary(path text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	tbl text := fuzz.pickv('bin_tier', 'bin_tier', 'bin_window', 'bin_window', 'bin_tier_arr', 'bin_window_arr', 'bin_pair');
	f bytea := '\x5047434f50590aff0d0a00'::bytea || int4send(0) || int4send(0);
	o oid;
BEGIN
	IF fuzz.chance(0.02) THEN f := fuzz.rand_bytes(19); END IF;
	FOR i IN 1..fuzz.r(1, 3) LOOP
		f := f || int2send((CASE WHEN fuzz.chance(0.97) THEN 1 ELSE fuzz.pickv('0', '2', '-2')::int END)::int2)
		       || fuzz.bin_field(fuzz.bin_value(tbl));
	END LOOP;
	IF fuzz.chance(0.95) THEN f := f || int2send(-1::int2); END IF;
	o := lo_from_bytea(0, f);
	PERFORM lo_export(o, path);
	PERFORM lo_unlink(o);
	RETURN format('/* file %s */ COPY fuzz.%I FROM %L (FORMAT binary); SELECT count(v::text) FROM fuzz.%I; COPY fuzz.%I TO ''/dev/null'' (FORMAT binary); TRUNCATE fuzz.%I',
	              left(f::text, 300) || CASE WHEN length(f) > 150 THEN '...' ELSE '' END, tbl, path, tbl, tbl, tbl);
END $$;

-----------------------------------------------------------------------------
-- category functions: every SQL-callable function of schema sanse
-----------------------------------------------------------------------------
CREATE FUNCTION fuzz.callable() RETURNS TABLE (oid oid, name text, kind "char", argtypes oid[], argnames text[], ndefaults int) LANGUAGE sql STABLE AS $$
SELECT p.oid, p.proname::text, p.prokind, ARRAY(SELECT unnest(p.proargtypes::oid[])), p.proargnames[1:p.pronargs], p.pronargdefaults
  FROM pg_proc p
 WHERE p.pronamespace = 'sanse'::regnamespace
   AND p.prokind IN ('f', 'a')
   AND p.prorettype NOT IN ('trigger'::regtype, 'internal'::regtype)
   AND NOT 'internal'::regtype = ANY (p.proargtypes::oid[])
 ORDER BY p.oid
$$;

-- a flavour for an argument from its name, so pools fit
CREATE FUNCTION fuzz.flavour(argname text, typ oid) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
	WHEN typ IN ('bigint'::regtype, 'integer'::regtype) THEN
		CASE WHEN argname ~ 'resident' THEN 'resident' WHEN argname ~ 'worker|assignee|by' THEN 'worker'
		     WHEN argname ~ 'event' THEN 'event' WHEN argname ~ 'visit' THEN 'visit' WHEN argname ~ 'area' THEN 'area' END
	WHEN argname ~ 'cadence' THEN 'cadence' WHEN argname ~ 'tz|zone' THEN 'zone' WHEN argname ~ 'token' THEN 'token'
	WHEN argname ~ 'factor|all_of' THEN 'factor' WHEN argname ~ 'checklist' THEN 'checklist' WHEN argname ~ 'clear|id_number' THEN 'idnumber'
	WHEN argname ~ 'kind' THEN 'kind' WHEN argname ~ 'schedule' THEN 'cron'
END $$;

CREATE FUNCTION fuzz.gen_functions() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	f record;
	args text[] := '{}';
	nargs int;
	x float8 := random();
BEGIN
	-- now and then: the sanse settings, sort support, hashing, operators
	IF x < 0.04 THEN
		RETURN format('SELECT set_config(%L, %s, true); SELECT sanse.window_after(%L::sanse.risk_tier, %s)::text, sanse.zone_add(%s, %s)',
		              fuzz.pickv('sanse.timezone', 'sanse.quick_succession', 'sanse.repeat_window', 'sanse.max_travel_speed'),
		              fuzz.gen_text(fuzz.pickv('zone', 'interval', 'timestamp')), fuzz.pickv('red', 'yellow', 'blue'),
		              fuzz.gen_timestamptz(), fuzz.gen_timestamptz(), fuzz.gen_interval());
	ELSIF x < 0.07 THEN
		RETURN format('SELECT w::text, count(*) FROM unnest(ARRAY[%s, %s, %s, %s]) w GROUP BY w ORDER BY w',
		              fuzz.gen_window(), fuzz.gen_window(), fuzz.gen_window(), fuzz.gen_window());
	ELSIF x < 0.09 THEN
		RETURN format('SELECT a @> %s, %s <@ a, a && b, a < b, a = b, a <> b, a >= b, lateness(a, %s), is_overdue(b, %s) FROM (SELECT %s AS a) s, (SELECT %s AS b) t',
		              fuzz.gen_timestamptz(), fuzz.gen_timestamptz(), fuzz.gen_timestamptz(), fuzz.gen_timestamptz(), fuzz.gen_window(), fuzz.gen_window());
	END IF;
	SELECT * INTO f FROM fuzz.callable() ORDER BY oid OFFSET fuzz.r(0, (SELECT count(*) - 1 FROM fuzz.callable())) LIMIT 1;
	nargs := cardinality(f.argtypes) - CASE WHEN f.ndefaults > 0 AND fuzz.chance(0.4) THEN fuzz.r(0, f.ndefaults) ELSE 0 END;
	FOR i IN 1..nargs LOOP
		args := args || fuzz.gen(f.argtypes[i], fuzz.flavour(f.argnames[i], f.argtypes[i]));
	END LOOP;
	IF f.kind = 'a' THEN
		RETURN format('SELECT sanse.%I(x)::text FROM unnest(ARRAY[%s, %s, NULL]) x', f.name,
		              fuzz.gen(f.argtypes[1]), fuzz.gen(f.argtypes[1]));
	END IF;
	RETURN format('SELECT count(x::text) FROM (SELECT sanse.%I(%s) AS x) s', f.name, array_to_string(args, ', '));
END $$;

-----------------------------------------------------------------------------
-- category triggers: every trigger function of sanse on a temporary table
-- shaped like its own table, with wrong types, dropped columns, NULLs, and
-- fired by every event at every timing and level.  One "call" is a scenario
-- of several statements, each tried on its own.
-----------------------------------------------------------------------------
CREATE FUNCTION fuzz.wrong_type() RETURNS text LANGUAGE sql VOLATILE AS $$
SELECT fuzz.pickv('bigint', 'integer', 'smallint', 'text', 'boolean', 'sanse.risk_tier', 'sanse.visit_window', 'text[]', 'integer[]',
                  'sanse.risk_tier[]', 'jsonb', 'timestamptz', 'timestamp', 'date', 'bytea', 'ltree', 'name', 'interval', 'numeric',
                  'double precision', '"char"', 'uuid', 'sanse.visit_window[]') $$;

CREATE FUNCTION fuzz.run_triggers(batch int, n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	fn record;
	home regclass;
	cols text[];
	types text[];
	def text;
	trig text;
	sql text;
	sid int := 0;
	k int;
	ev text[];
	c int;
BEGIN
	FOR s IN 1..n LOOP
		SELECT p.oid::regproc AS name INTO fn
		  FROM pg_proc p WHERE p.pronamespace = 'sanse'::regnamespace AND p.prorettype = 'trigger'::regtype
		 ORDER BY p.oid OFFSET fuzz.r(0, (SELECT count(*) - 1 FROM pg_proc WHERE pronamespace = 'sanse'::regnamespace AND prorettype = 'trigger'::regtype)) LIMIT 1;
		SELECT t.tgrelid, pg_get_triggerdef(t.oid) INTO home, def FROM pg_trigger t
		 WHERE t.tgfoid = fn.name::oid ORDER BY t.oid OFFSET fuzz.r(0, 3) LIMIT 1;
		IF home IS NULL THEN
			SELECT t.tgrelid, pg_get_triggerdef(t.oid) INTO home, def FROM pg_trigger t WHERE t.tgfoid = fn.name::oid ORDER BY t.oid LIMIT 1;
		END IF;
		IF home IS NULL THEN
			home := 'sanse.resident'::regclass; def := NULL;
		END IF;
		-- the table: its own columns, some of the wrong type, some dropped
		cols := '{}'; types := '{}';
		FOR c IN SELECT a.attnum FROM pg_attribute a WHERE a.attrelid = home AND a.attnum > 0 AND NOT a.attisdropped ORDER BY
		             CASE WHEN fuzz.chance(0.2) THEN random() ELSE a.attnum END LOOP
			cols := cols || (SELECT attname::text FROM pg_attribute WHERE attrelid = home AND attnum = c);
			types := types || CASE WHEN fuzz.chance(0.65) THEN (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = home AND attnum = c)
			                       ELSE fuzz.wrong_type() END;
		END LOOP;
		sql := 'DROP TABLE IF EXISTS pg_temp.fz_trg; CREATE TEMP TABLE fz_trg (';
		FOR i IN 1..cardinality(cols) LOOP
			IF fuzz.chance(0.08) THEN
				sql := sql || format('fz_gone_%s integer, ', i);
			END IF;
			IF fuzz.chance(0.06) THEN
				CONTINUE;	-- the column is missing
			END IF;
			sql := sql || format('%I %s, ', cols[i], types[i]);
		END LOOP;
		sql := sql || 'fz_extra text); ';
		IF fuzz.chance(0.5) THEN
			sql := sql || 'ALTER TABLE fz_trg DROP COLUMN fz_extra; ';
		END IF;
		FOR i IN 1..cardinality(cols) LOOP
			IF sql ~ format('fz_gone_%s ', i) THEN
				sql := sql || format('ALTER TABLE fz_trg DROP COLUMN fz_gone_%s; ', i);
			END IF;
		END LOOP;
		-- some rows before the trigger exists, for UPDATE and DELETE
		FOR r IN 1..fuzz.r(0, 3) LOOP
			sql := sql || fuzz.trg_insert(cols, types) || '; ';
		END LOOP;
		-- the trigger: as sanse attaches it, or any timing, level and events
		IF def IS NOT NULL AND fuzz.chance(0.5) THEN
			trig := regexp_replace(def, ' ON \S+ ', ' ON pg_temp.fz_trg ');
			-- a constraint trigger as a plain one: fired at the statement's end,
			-- inside this scenario's try, not at the commit of the whole batch
			trig := regexp_replace(trig, 'CREATE (CONSTRAINT )?TRIGGER \S+ ', 'CREATE TRIGGER fz ');
			trig := regexp_replace(trig, ' (NOT )?DEFERRABLE INITIALLY (DEFERRED|IMMEDIATE)', '');
		ELSE
			ev := '{}';
			FOREACH trig IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] LOOP
				IF fuzz.chance(0.5) THEN ev := ev || trig; END IF;
			END LOOP;
			IF cardinality(ev) = 0 THEN ev := ARRAY[fuzz.pickv('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')]; END IF;
			trig := format('CREATE TRIGGER fz %s %s ON fz_trg %s FOR EACH %s EXECUTE FUNCTION %s()',
			               fuzz.pickv('BEFORE', 'AFTER'), array_to_string(ev, ' OR '),
			               CASE WHEN fuzz.chance(0.4) THEN 'REFERENCING ' || fuzz.pickv('NEW TABLE AS new_rows', 'OLD TABLE AS old_rows',
			                    'NEW TABLE AS new_events', 'OLD TABLE AS old_events', 'OLD TABLE AS old_rows NEW TABLE AS new_rows') ELSE '' END,
			               fuzz.pickv('ROW', 'STATEMENT'), fn.name);
		END IF;
		sid := sid + 1;
		RAISE NOTICE 'fuzz scenario start %', sid;
		IF EXISTS (SELECT FROM fuzz.skip k WHERE k.category = 'triggers' AND k.batch = run_triggers.batch AND k.id = sid) THEN
			INSERT INTO fuzz.outcome VALUES ('triggers', batch, sid, sql || trig, 'SKIP', 'crashed the backend in an earlier run');
			CONTINUE;
		END IF;
		IF fuzz.try('trigger-setup', batch, sid, sql) <> '00000' THEN
			CONTINUE;
		END IF;
		IF fuzz.try('triggers', batch, sid, trig) <> '00000' THEN
			CONTINUE;
		END IF;
		FOR f IN 1..fuzz.r(1, 4) LOOP
			k := fuzz.r(0, 9);
			PERFORM fuzz.try('triggers', batch, sid, CASE
				WHEN k < 4 THEN (SELECT string_agg(fuzz.trg_insert(cols, types), '; ') FROM generate_series(1, fuzz.r(1, 2)))
				WHEN k < 7 THEN format('UPDATE fz_trg SET %I = %s', cols[fuzz.r(1, cardinality(cols))::int], CASE WHEN fuzz.chance(0.3) THEN 'DEFAULT' ELSE fuzz.trg_value(types[fuzz.r(1, cardinality(types))::int]) END)
				WHEN k < 9 THEN 'DELETE FROM fz_trg'
				ELSE 'TRUNCATE fz_trg' END);
		END LOOP;
		PERFORM fuzz.try('trigger-setup', batch, sid, 'DROP TABLE IF EXISTS pg_temp.fz_trg');
	END LOOP;
END $$;

CREATE FUNCTION fuzz.trg_value(typ text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF fuzz.chance(0.15) THEN
		RETURN 'NULL';
	END IF;
	RETURN fuzz.gen(typ::regtype, NULL);
EXCEPTION WHEN OTHERS THEN
	RETURN 'NULL';
END $$;

CREATE FUNCTION fuzz.trg_insert(cols text[], types text[]) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	names text[] := '{}';
	vals text[] := '{}';
BEGIN
	FOR i IN 1..cardinality(cols) LOOP
		IF fuzz.chance(0.8) THEN
			names := names || quote_ident(cols[i]);
			vals := vals || CASE WHEN cols[i] IN ('factors', 'all_of') AND types[i] = 'text[]' THEN fuzz.gen_text_array('factor')
			                     ELSE fuzz.trg_value(types[i]) END;
		END IF;
	END LOOP;
	IF cardinality(names) = 0 THEN
		RETURN 'INSERT INTO fz_trg DEFAULT VALUES';
	END IF;
	-- a column that was not created (missing) makes the INSERT fail: fine, it is one try
	RETURN format('INSERT INTO fz_trg (%s) SELECT %s', array_to_string(names, ', '), array_to_string(vals, ', '));
END $$;

-----------------------------------------------------------------------------
-- category tables: random writes to sanse's own tables through their triggers
-----------------------------------------------------------------------------
CREATE FUNCTION fuzz.col_value(tbl text, col text, typ text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF fuzz.chance(0.06) THEN RETURN 'NULL'; END IF;
	IF fuzz.chance(0.04) THEN RETURN 'DEFAULT'; END IF;
	RETURN CASE
		WHEN col = 'area_id' AND fuzz.chance(0.8) THEN coalesce((SELECT id::text FROM sanse.area WHERE kind = fuzz.pickv('micro_grid', 'micro_grid', 'district', 'general_grid', 'total_grid')
		                                                          ORDER BY id OFFSET fuzz.r(0, 5) LIMIT 1), '1')
		WHEN col = 'resident_id' THEN fuzz.some_id('resident')
		WHEN col = 'worker_id' THEN fuzz.some_id('worker')
		WHEN col = 'kind' THEN quote_literal(fuzz.pick(fuzz.pool('kind')))
		WHEN col = 'force' THEN quote_literal(fuzz.pick(fuzz.pool('force')))
		WHEN col = 'role' THEN quote_literal(fuzz.pick(fuzz.pool('role')))
		WHEN col = 'cadence' THEN fuzz.gen_text('cadence')
		WHEN col = 'id_number' THEN fuzz.gen_text('idnumber')
		WHEN col = 'name' AND fuzz.chance(0.7) THEN quote_literal('fz ' || fuzz.rand_str(8))
		WHEN col IN ('factors', 'all_of') THEN fuzz.gen_text_array('factor')
		WHEN col = 'db_role' THEN fuzz.pickv('NULL', '''postgres''', '''nobody_here''', 'current_user')
		WHEN col = 'override_reason' THEN fuzz.pickv('''fell twice''', ''' ''', '''''', fuzz.gen_text())
		WHEN col IN ('tier', 'tier_override', 'computed_tier') THEN fuzz.pickv('''red''', '''yellow''', '''blue''', 'NULL')
		ELSE fuzz.gen(typ::regtype, NULL)
	END;
END $$;

CREATE FUNCTION fuzz.gen_tables() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	tbl text := fuzz.pickv('resident', 'resident', 'resident', 'area', 'area', 'worker', 'worker', 'carer', 'classification_rule', 'tier_policy');
	rel regclass := ('sanse.' || tbl)::regclass;
	names text[] := '{}';
	vals text[] := '{}';
	a record;
	k int := fuzz.r(0, 19);
	key text := CASE tbl WHEN 'tier_policy' THEN 'tier' WHEN 'carer' THEN 'resident_id' ELSE 'id' END;
	keyval text := CASE tbl WHEN 'tier_policy' THEN fuzz.pickv('''red''', '''yellow''', '''blue''') ELSE fuzz.some_id(tbl) END;
BEGIN
	IF k < 9 THEN
		FOR a IN SELECT attname::text AS name, format_type(atttypid, atttypmod) AS typ, attidentity, attgenerated FROM pg_attribute
		          WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped ORDER BY attnum LOOP
			CONTINUE WHEN a.attidentity = 'a' AND fuzz.chance(0.95);
			CONTINUE WHEN a.attgenerated <> '' AND fuzz.chance(0.95);
			CONTINUE WHEN a.name IN ('tier', 'computed_tier', 'next_visit', 'override_by', 'override_at', 'id_number_hash', 'written_by', 'builtin') AND fuzz.chance(0.8);
			CONTINUE WHEN fuzz.chance(0.1);
			names := names || quote_ident(a.name);
			vals := vals || fuzz.col_value(tbl, a.name, a.typ);
		END LOOP;
		RETURN format('INSERT INTO sanse.%I (%s) VALUES (%s)', tbl, array_to_string(names, ', '), array_to_string(vals, ', '));
	ELSIF k < 16 THEN
		SELECT attname::text AS name, format_type(atttypid, atttypmod) AS typ INTO a FROM pg_attribute
		 WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped ORDER BY random() LIMIT 1;
		RETURN format('UPDATE sanse.%I SET %I = %s WHERE %I = %s', tbl, a.name, fuzz.col_value(tbl, a.name, a.typ), key, keyval);
	ELSIF k < 18 THEN
		RETURN format('DELETE FROM sanse.%I WHERE %I = %s', tbl, key, keyval);
	ELSIF k < 19 THEN
		-- a rule or policy edit, then a resident write, undone afterwards
		RETURN format('/* undo */ TRUNCATE sanse.%I CASCADE; INSERT INTO sanse.resident (area_id, name, factors) SELECT id, ''fz'', %s FROM sanse.area WHERE kind = ''micro_grid'' LIMIT 1; SELECT sanse.sweep(%s)',
		              fuzz.pickv('tier_policy', 'classification_rule', 'installation_secret', 'carer'), fuzz.gen_text_array('factor'), fuzz.gen_timestamptz());
	ELSE
		RETURN format('SELECT sanse.sweep(%s); SELECT sanse.check_in(sanse.door_token(r.id), c.worker_id, %s, %s) FROM sanse.carer c JOIN sanse.resident r ON r.id = c.resident_id ORDER BY r.id OFFSET %s LIMIT 1',
		              fuzz.gen_timestamptz(), fuzz.gen_timestamptz(), fuzz.gen_text_array('checklist'), fuzz.r(0, 10));
	END IF;
END $$;

-----------------------------------------------------------------------------
-- one batch of one category
-----------------------------------------------------------------------------
CREATE FUNCTION fuzz.run(category text, batch int, n int, seed bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	sql text;
BEGIN
	PERFORM setseed(((seed * 7919 + batch * 104729 + length(category) * 31) % 2000000 - 1000000) / 1000001.0);
	SET LOCAL statement_timeout = '10s';
	SET LOCAL search_path = public, sanse;	-- sanse's operators, as an app that uses them has it
	IF category = 'triggers' THEN
		PERFORM fuzz.run_triggers(batch, n);
		RETURN;
	END IF;
	FOR i IN 1..n LOOP
		sql := CASE category
			WHEN 'types' THEN fuzz.gen_types()
			WHEN 'binary' THEN fuzz.gen_binary('sanse_fuzz_copy.bin')
			WHEN 'functions' THEN fuzz.gen_functions()
			WHEN 'tables' THEN fuzz.gen_tables()
		END;
		IF EXISTS (SELECT FROM fuzz.skip s WHERE s.category = run.category AND s.batch = run.batch AND s.id = i) THEN
			INSERT INTO fuzz.outcome VALUES (category, batch, i, left(sql, 2000), 'SKIP', 'crashed the backend in an earlier run');
			CONTINUE;
		END IF;
		-- arrays and records on the wire: core's array_recv/record_recv read their headers
		PERFORM fuzz.try(CASE WHEN category = 'binary' AND sql ~ 'COPY fuzz.bin_(\w+_arr|pair) FROM' THEN 'binary-nested' ELSE category END, batch, i, sql);
	END LOOP;
END $$;

-----------------------------------------------------------------------------
-- a small district to write into
-----------------------------------------------------------------------------
INSERT INTO sanse.area (path, kind, name) VALUES ('q', 'district', 'Q'), ('q.t', 'town', 'T'), ('q.t.v', 'village', 'V'),
	('q.t.v.tg', 'total_grid', 'TG'), ('q.t.v.tg.g', 'general_grid', 'G'), ('q.t.v.tg.g.m1', 'micro_grid', 'M1'),
	('q.t.v.tg.g.m2', 'micro_grid', 'M2');
INSERT INTO sanse.worker (name, force, role, area_id) SELECT 'leader ' || name, 'grid_officer', 'micro_grid_leader', id FROM sanse.area WHERE kind = 'micro_grid';
INSERT INTO sanse.worker (name, force, role, area_id) SELECT f || ' ' || a.name, f, 'member', a.id
  FROM sanse.area a, unnest(ARRAY['department_staff', 'community_cadre', 'service_professional', 'volunteer']) f WHERE a.kind = 'micro_grid';
INSERT INTO sanse.worker (name, force, role, area_id) SELECT 'task force', 'department_staff', 'task_force', id FROM sanse.area WHERE kind = 'district';
INSERT INTO sanse.resident (area_id, name, factors, registered_at, id_number)
SELECT a.id, 'r' || g, (ARRAY['{accident_risk}', '{partial_care,unstable_chronic}', '{self_care_difficulty}', '{}', '{lives_alone,disabled}'])[1 + g % 5]::text[],
       now() - g * interval '13 hours', CASE WHEN g % 2 = 0 THEN '5101011940010112' || lpad(g::text, 2, '0') END
  FROM sanse.area a, generate_series(1, 6) g WHERE a.kind = 'micro_grid';
INSERT INTO sanse.carer (resident_id, worker_id) SELECT r.id, w.id FROM sanse.resident r JOIN sanse.worker w ON w.area_id = r.area_id AND w.role = 'member';
SELECT count(sanse.door_token(id)) FROM sanse.resident;
