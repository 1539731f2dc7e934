-----------------------------------------------------------------------------
-- The daily history from what the day changed (issue 22).  The residents in
-- the programme at a day's end, by area and tier (area_day's residents, red,
-- yellow, blue, and who counts as overdue), were counted again from every
-- resident each day: 37 s at 1,000x the paper.  They are now carried from
-- one recorded day to the next:
--   area_day_member  each resident counted at the end of the last recorded
--                    day, with the area and tier it was counted in;
--   area_day_tally   the same, counted per area (what area_day rolls up);
--   area_day_state   which day they are for, and its end;
--   area_day_change  the residents some write may have moved since: one row
--                    appended per write of a resident's area, tier,
--                    registration, activity or forgetting, or of its tier
--                    history, with the latest time the write carries.
-- Recording the next day counts again only the residents of area_day_change
-- (area_day_residents_of: the same rule as area_day_residents, for them),
-- and moves them in member and tally.  A change row is dropped once the day
-- recorded ends after every time it carries; until then each day counts its
-- resident again (a registration, deactivation or tier change dated in a
-- later day moves the resident on that day).  Any other day (the first one,
-- a day recorded again after the owner deleted a tail, after a TRUNCATE, or
-- when most residents changed, as after a load) is counted from every row.
-- Rows written with triggers held back (replica mode) are not noted: after
-- such a load of residents or tier history, DELETE FROM
-- sanse.area_day_state so that the next day is counted from every row.
-----------------------------------------------------------------------------
CREATE TABLE area_day_change (
	resident_id bigint NOT NULL,
	at timestamptz NOT NULL
);
REVOKE ALL ON area_day_change FROM PUBLIC;
COMMENT ON TABLE area_day_change IS 'residents a write may have moved in the daily history since the last recorded day, with the latest time the write carries (appended by triggers on resident and tier_history; consumed by record_area_day)';

CREATE TABLE area_day_member (
	resident_id bigint PRIMARY KEY,
	area_id bigint NOT NULL,
	tier risk_tier NOT NULL
);
REVOKE ALL ON area_day_member FROM PUBLIC;
COMMENT ON TABLE area_day_member IS 'the residents in the programme at the end of the day in area_day_state, with the area and tier they were counted in (written only by record_area_day)';

CREATE TABLE area_day_tally (
	area_id bigint PRIMARY KEY,
	red integer NOT NULL,
	yellow integer NOT NULL,
	blue integer NOT NULL
);
REVOKE ALL ON area_day_tally FROM PUBLIC;
COMMENT ON TABLE area_day_tally IS 'area_day_member counted per area and tier (written only by record_area_day)';

CREATE TABLE area_day_state (
	day date PRIMARY KEY,
	ends_at timestamptz NOT NULL
);
REVOKE ALL ON area_day_state FROM PUBLIC;
COMMENT ON TABLE area_day_state IS 'the day (and its end) area_day_member and area_day_tally are for; no row: the next day recorded is counted from every resident';

SELECT pg_catalog.pg_extension_config_dump('area_day_change', '');
SELECT pg_catalog.pg_extension_config_dump('area_day_member', '');
SELECT pg_catalog.pg_extension_config_dump('area_day_tally', '');
SELECT pg_catalog.pg_extension_config_dump('area_day_state', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_day_change FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_day_member FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_day_tally FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
CREATE TRIGGER a_restore_guard BEFORE INSERT ON area_day_state FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();

-- The writes noted: one INSERT per statement (registrations, deletions,
-- tier history), one per row for the updates that touch what the history
-- counts (a check-in's update of last_visit_at and next_visit touches none:
-- the trigger's WHEN skips it without a call).  A TRUNCATE drops the state.
CREATE OR REPLACE FUNCTION area_day_note() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'area_day_note', ARRAY['sanse.resident'::regclass, 'sanse.tier_history'::regclass],
		'sanse.resident or sanse.tier_history');
	IF TG_OP = 'TRUNCATE' THEN
		DELETE FROM sanse.area_day_state;
	ELSIF TG_LEVEL = 'ROW' AND TG_TABLE_NAME = 'resident' THEN
		INSERT INTO sanse.area_day_change (resident_id, at)
		VALUES (NEW.id, greatest(NEW.registered_at, NEW.deactivated_at, OLD.registered_at, OLD.deactivated_at, '-infinity'));
	ELSIF TG_LEVEL = 'ROW' THEN
		INSERT INTO sanse.area_day_change (resident_id, at)
		SELECT DISTINCT x.id, greatest(NEW.changed_at, OLD.changed_at)
		  FROM (VALUES (NEW.resident_id), (OLD.resident_id)) x(id);
	ELSIF TG_OP = 'INSERT' AND TG_TABLE_NAME = 'resident' THEN
		INSERT INTO sanse.area_day_change (resident_id, at)
		SELECT n.id, greatest(n.registered_at, n.deactivated_at, '-infinity') FROM new_rows n;
	ELSIF TG_OP = 'INSERT' THEN
		INSERT INTO sanse.area_day_change (resident_id, at) SELECT n.resident_id, n.changed_at FROM new_rows n;
	ELSIF TG_TABLE_NAME = 'resident' THEN
		INSERT INTO sanse.area_day_change (resident_id, at) SELECT o.id, '-infinity' FROM old_rows o;
	ELSE
		INSERT INTO sanse.area_day_change (resident_id, at) SELECT o.resident_id, o.changed_at FROM old_rows o;
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION area_day_note() FROM PUBLIC;
CREATE TRIGGER area_day_note_insert AFTER INSERT ON resident REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_day_note();
CREATE TRIGGER area_day_note_update AFTER UPDATE ON resident
	FOR EACH ROW WHEN (OLD.area_id IS DISTINCT FROM NEW.area_id OR OLD.tier IS DISTINCT FROM NEW.tier
	                   OR OLD.active IS DISTINCT FROM NEW.active OR OLD.deactivated_at IS DISTINCT FROM NEW.deactivated_at
	                   OR OLD.registered_at IS DISTINCT FROM NEW.registered_at OR OLD.forgotten_at IS DISTINCT FROM NEW.forgotten_at)
	EXECUTE FUNCTION area_day_note();
CREATE TRIGGER area_day_note_delete AFTER DELETE ON resident REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_day_note();
CREATE TRIGGER area_day_note_truncate AFTER TRUNCATE ON resident
	FOR EACH STATEMENT EXECUTE FUNCTION area_day_note();
CREATE TRIGGER area_day_note_insert AFTER INSERT ON tier_history REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_day_note();
CREATE TRIGGER area_day_note_update AFTER UPDATE ON tier_history
	FOR EACH ROW WHEN (OLD.changed_at IS DISTINCT FROM NEW.changed_at OR OLD.new_tier IS DISTINCT FROM NEW.new_tier
	                   OR OLD.resident_id IS DISTINCT FROM NEW.resident_id)
	EXECUTE FUNCTION area_day_note();
CREATE TRIGGER area_day_note_delete AFTER DELETE ON tier_history REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION area_day_note();
CREATE TRIGGER area_day_note_truncate AFTER TRUNCATE ON tier_history
	FOR EACH STATEMENT EXECUTE FUNCTION area_day_note();

-- area_day_residents(e) for some residents only: the same rule, read by
-- index per resident (its row, its tier history).
CREATE OR REPLACE FUNCTION area_day_residents_of(e timestamptz, ids bigint[]) RETURNS TABLE (id bigint, area_id bigint, tier sanse.risk_tier)
LANGUAGE sql STABLE SET search_path = pg_catalog, sanse AS $$
SELECT p.id, p.area_id, p.tier
  FROM (SELECT r.id, r.area_id, CASE WHEN h.resident_id IS NULL THEN r.tier ELSE h.new_tier END AS tier
          FROM (SELECT DISTINCT i.id FROM unnest(ids) i(id)) i
          JOIN sanse.resident r ON r.id = i.id
          -- the tier at e from the history: for a resident with a change at
          -- or after e, or forgotten since e
          LEFT JOIN LATERAL (
		SELECT x.resident_id, x.new_tier FROM sanse.tier_history x
		 WHERE x.resident_id = r.id
		   AND (EXISTS (SELECT 1 FROM sanse.tier_history y WHERE y.resident_id = r.id AND y.changed_at >= e)
		        OR (r.forgotten_at IS NOT NULL AND NOT r.active AND r.deactivated_at >= e))
		 ORDER BY x.changed_at < e DESC, CASE WHEN x.changed_at < e THEN x.changed_at END DESC,
		          CASE WHEN x.changed_at < e THEN x.id END DESC, x.changed_at, x.id
		 LIMIT 1) h ON true
         WHERE r.registered_at < e AND (r.active OR r.deactivated_at >= e)) p
 WHERE p.tier IS NOT NULL;
$$;
REVOKE ALL ON FUNCTION area_day_residents_of(timestamptz, bigint[]) FROM PUBLIC;

-- Member and tally counted from every resident at e (the first day, or any
-- day that does not follow the state's).  The changes dated before e are
-- dropped first, in a statement of its own: the count that follows sees
-- every write they noted.
CREATE OR REPLACE FUNCTION area_day_recount(p_day date, e timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	DELETE FROM sanse.area_day_change c WHERE c.at < e;
	TRUNCATE sanse.area_day_member, sanse.area_day_tally, sanse.area_day_state;
	INSERT INTO sanse.area_day_member (resident_id, area_id, tier)
	SELECT p.id, p.area_id, p.tier FROM sanse.area_day_residents(e) p;
	INSERT INTO sanse.area_day_tally (area_id, red, yellow, blue)
	SELECT m.area_id, count(*) FILTER (WHERE m.tier = 'red'), count(*) FILTER (WHERE m.tier = 'yellow'),
	       count(*) FILTER (WHERE m.tier = 'blue')
	  FROM sanse.area_day_member m
	 GROUP BY m.area_id;
	INSERT INTO sanse.area_day_state (day, ends_at) VALUES (p_day, e);
END
$$;
REVOKE ALL ON FUNCTION area_day_recount(date, timestamptz) FROM PUBLIC;

-- Member and tally brought from the state's day to p_day (ending at e):
-- the residents noted since are counted again and moved.  The noted rows
-- are read, and those dated before e dropped, in one statement; what a
-- write committed after it noted stays for the next day.  When more than a
-- third of the residents were noted, counting every row is cheaper.
CREATE OR REPLACE FUNCTION area_day_advance(p_day date, e timestamptz) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	st sanse.area_day_state;
	dirty bigint[];
	now_in sanse.area_day_member[];
BEGIN
	SELECT * INTO st FROM sanse.area_day_state;
	IF st.day IS NULL OR st.day <> p_day - 1 OR st.ends_at >= e THEN
		PERFORM sanse.area_day_recount(p_day, e);
		RETURN;
	END IF;
	WITH done AS (DELETE FROM sanse.area_day_change c WHERE c.at < e RETURNING c.resident_id)
	SELECT coalesce(array_agg(DISTINCT c.resident_id), '{}') INTO dirty FROM sanse.area_day_change c;
	IF cardinality(dirty) * 3 > (SELECT coalesce(sum(t.red + t.yellow + t.blue), 0) FROM sanse.area_day_tally t) + 3000 THEN
		PERFORM sanse.area_day_recount(p_day, e);
		RETURN;
	END IF;
	now_in := ARRAY(SELECT ROW(x.id, x.area_id, x.tier)::sanse.area_day_member FROM sanse.area_day_residents_of(e, dirty) x);
	WITH was AS (
		DELETE FROM sanse.area_day_member m USING unnest(dirty) i(id) WHERE m.resident_id = i.id
		RETURNING m.area_id, m.tier, -1 AS k),
	moved AS (
		SELECT w.area_id, w.tier, w.k FROM was w
		UNION ALL
		SELECT n.area_id, n.tier, 1 FROM unnest(now_in) n)
	INSERT INTO sanse.area_day_tally AS t (area_id, red, yellow, blue)
	SELECT v.area_id, coalesce(sum(v.k) FILTER (WHERE v.tier = 'red'), 0),
	       coalesce(sum(v.k) FILTER (WHERE v.tier = 'yellow'), 0), coalesce(sum(v.k) FILTER (WHERE v.tier = 'blue'), 0)
	  FROM moved v
	 GROUP BY v.area_id
	ON CONFLICT (area_id) DO UPDATE
	   SET red = t.red + excluded.red, yellow = t.yellow + excluded.yellow, blue = t.blue + excluded.blue;
	INSERT INTO sanse.area_day_member (resident_id, area_id, tier) SELECT n.resident_id, n.area_id, n.tier FROM unnest(now_in) n;
	DELETE FROM sanse.area_day_state;
	INSERT INTO sanse.area_day_state (day, ends_at) VALUES (p_day, e);
END
$$;
REVOKE ALL ON FUNCTION area_day_advance(date, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION area_day_advance(date, timestamptz) IS 'bring area_day_member and area_day_tally to the end e of p_day: from the previous day''s by the residents noted in area_day_change, else from every resident';
