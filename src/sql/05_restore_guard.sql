-- Restore: sanse's rows come back only through pg_restore in replica mode
-- (PGOPTIONS='-c session_replication_role=replica'), which loads them as
-- they were without re-running sanse's triggers; only the triggers that
-- merge restored rows over the defaults CREATE EXTENSION made and drop
-- cached copies fire there (ENABLE ALWAYS, next to each table).
-- Every trigger function of sanse first checks the table it fired on (a
-- trigger the owner puts on another table refuses before reading a column,
-- 39P01): p_tables, named p_named in the message (default: the one table).
-- Not SECURITY DEFINER, and every role may run it: the trigger functions of
-- tables other roles write run as those roles.
CREATE OR REPLACE FUNCTION trigger_fired_on(p_relid oid, p_function text, p_tables regclass[], p_named text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF p_relid = ANY (p_tables::oid[]) THEN
		RETURN;
	END IF;
	RAISE EXCEPTION 'trigger function %() fired on table %', p_function, p_relid::regclass
		USING ERRCODE = '39P01',
		      DETAIL = format('It only works as a trigger on %s.',
		                      coalesce(p_named, (SELECT n.nspname || '.' || c.relname
		                                           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		                                          WHERE c.oid = p_tables[1])));
END
$$;
COMMENT ON FUNCTION trigger_fired_on(oid, text, regclass[], text) IS 'refuse (39P01) a trigger function fired on a table it was not written for';

-----------------------------------------------------------------------------
-- A plain pg_restore would re-run sanse's triggers over restored rows
-- (history dated at the restore, override times overwritten, every missed
-- window tallied twice).  It is refused up front instead: sanse's rows come
-- back only with its triggers held back (replica mode, where this trigger
-- does not fire).  A dump's rows are recognised by what clients never send:
-- a COPY of a table that only sanse writes, or a COPY naming the identity
-- column.  (A plain-SQL dump made with --inserts is not recognised.)
-- Only the COPY's own table is judged: pg_restore's COPY of a table is the
-- top-level statement (trigger depth 1 here), while the rows sanse's
-- triggers write during a client's COPY of residents (their tier history,
-- audit rows) come from statements nested in a trigger (depth 2 and more)
-- under the same query text, and are not a restore.
-----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION restore_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	q text := left(current_query(), 4000);
	cols text;
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'restore_guard', ARRAY['sanse.area'::regclass, 'sanse.worker'::regclass, 'sanse.classification_rule'::regclass,
		'sanse.installation_secret'::regclass, 'sanse.tier_policy'::regclass,
		'sanse.resident'::regclass, 'sanse.tier_history'::regclass, 'sanse.carer'::regclass,
		'sanse.door_token'::regclass, 'sanse.visit'::regclass, 'sanse.event'::regclass,
		'sanse.event_step'::regclass, 'sanse.worker_month'::regclass,
		'sanse.worker_month_pending'::regclass, 'sanse.visit_withdrawn'::regclass,
		'sanse.department'::regclass, 'sanse.loop_policy'::regclass, 'sanse.event_transition'::regclass,
		'sanse.audit_log'::regclass, 'sanse.area_grant'::regclass,
		'sanse.area_day'::regclass, 'sanse.area_day_recorded'::regclass, 'sanse.device'::regclass,
		'sanse.device_span'::regclass, 'sanse.device_late_reading'::regclass,
		'sanse.carer_gap'::regclass, 'sanse.area_day_change'::regclass, 'sanse.area_day_member'::regclass,
		'sanse.area_day_tally'::regclass, 'sanse.area_day_state'::regclass, 'sanse.area_count'::regclass,
		'sanse.area_count_dirty'::regclass],
		'sanse''s tables');
	IF pg_trigger_depth() > 1 THEN
		RETURN NULL;   -- written by a trigger during the COPY of another table
	END IF;
	IF q ~* '^\s*copy\s' THEN
		cols := substring(q FROM '^\s*[Cc][Oo][Pp][Yy]\s+[^(\s]+\s*\(([^)]*)\)');
		-- clients bulk-load areas, workers, residents, devices (without ids) and carers
		IF TG_TABLE_NAME = 'carer'
		   OR (TG_TABLE_NAME IN ('area', 'worker', 'resident', 'device') AND cols IS NOT NULL
		       AND cols !~* '(^|,)\s*"?id"?\s*(,|$)') THEN
			RETURN NULL;
		END IF;
	ELSE
		RETURN NULL;
	END IF;
	RAISE EXCEPTION 'rows of sanse.% look like a restore; sanse''s data must be restored with its triggers held back', TG_TABLE_NAME
		USING ERRCODE = '55000',
		      DETAIL = 'A plain restore would re-run sanse''s triggers over restored rows: tier history dated at the restore, override times overwritten, missed windows counted twice.',
		      HINT = 'Restore into a fresh database as a superuser with: PGOPTIONS=''-c session_replication_role=replica'' pg_restore -d <database> <dump>';
END
$$;
REVOKE ALL ON FUNCTION restore_guard() FROM PUBLIC;
