-----------------------------------------------------------------------------
-- Deletion when the purpose ends (spec 8): forgetting a resident erases
-- what identifies them — name, factors, ID hash, coordinates, door tokens,
-- the free texts about them, in the audit log too — and keeps the anonymous
-- rows statistics need (visits, events, steps, tier history without
-- reasons).  The sweep forgets residents inactive for longer than
-- sanse.retention.
--
-- Forgetting and the writes about a person exclude each other: both lock the
-- resident's row first (forgetting FOR UPDATE, in a statement of its own, so
-- its erasing statements see what a writer it waited for committed; check_in
-- and the loop's functions re-check forgotten_at once they hold the lock).
-----------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION forget(p_residents bigint[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	n int;
BEGIN
	DELETE FROM sanse.door_token t WHERE t.resident_id = ANY (p_residents);
	UPDATE sanse.tier_history h SET override_reason = NULL
	 WHERE h.resident_id = ANY (p_residents) AND h.override_reason IS NOT NULL;
	UPDATE sanse.visit v SET note = NULL WHERE v.resident_id = ANY (p_residents) AND v.note IS NOT NULL;
	UPDATE sanse.visit_withdrawn v SET note = NULL, reason = 'forgotten' WHERE v.resident_id = ANY (p_residents);
	UPDATE sanse.event_transition t SET note = NULL
	  FROM sanse.event e
	 WHERE t.event_id = e.id AND e.resident_id = ANY (p_residents) AND t.note IS NOT NULL;
	UPDATE sanse.event e SET detail = NULL, action = NULL, feedback = NULL
	 WHERE e.resident_id = ANY (p_residents)
	   AND (e.detail IS NOT NULL OR e.action IS NOT NULL OR e.feedback IS NOT NULL);
	UPDATE sanse.resident r
	   SET name = 'forgotten', factors = '{}', tier_override = NULL, override_reason = NULL,
	       lat = NULL, lon = NULL, id_number = '', active = false, forgotten_at = now()
	 WHERE r.id = ANY (p_residents) AND r.forgotten_at IS NULL;
	GET DIAGNOSTICS n = ROW_COUNT;
	-- the free text of the audit rows that name them (override reasons,
	-- lookup purposes): the act, who, when and the chain stay; the ground
	-- of a forgetting stays (it is the audit of the erasure)
	UPDATE sanse.audit_log a SET purpose = NULL, detail = NULL, text_key = NULL
	 WHERE a.resident_ids && p_residents AND a.act <> 'forget_resident'
	   AND (a.purpose IS NOT NULL OR a.detail IS NOT NULL OR a.text_key IS NOT NULL);
	RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION forget_resident(resident_id bigint, reason text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_variable
BEGIN
	IF reason IS NULL OR btrim(reason) = '' THEN
		RAISE EXCEPTION 'forgetting a resident needs a reason' USING ERRCODE = '22023';
	END IF;
	PERFORM sanse.check_free_text(reason, 'reason');
	PERFORM 1 FROM sanse.resident r WHERE r.id = resident_id AND sanse.caller_sees(r.area_id, 'care')
	   FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', coalesce(resident_id::text, 'NULL') USING ERRCODE = '22023';
	END IF;
	PERFORM sanse.forget(ARRAY[resident_id]);
	PERFORM sanse.audit('forget_resident', ARRAY[resident_id], reason);
END
$$;
REVOKE ALL ON FUNCTION forget_resident(bigint, text), forget(bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION forget_resident(bigint, text) IS 'erase what identifies a resident who left the programme (name, factors, ID hash, coordinates, door tokens, free texts), keeping the anonymous rows; audited';

-- sanse.retention as an interval, read in C (never a placeholder a role set
-- before the library was loaded in its session).
CREATE OR REPLACE FUNCTION retention() RETURNS interval
	AS 'MODULE_PATHNAME', 'retention' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION retention() IS 'the setting sanse.retention, as an interval';

-- Residents inactive for longer than sanse.retention, forgotten by the sweep
-- (index resident_forget_due: the cost follows who is due).
CREATE OR REPLACE FUNCTION forget_expired(at timestamptz) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
DECLARE
	ids bigint[];
BEGIN
	-- locked first (a resident a writer holds is left for the next sweep)
	ids := ARRAY(SELECT r.id FROM sanse.resident r
	              WHERE NOT r.active AND r.forgotten_at IS NULL
	                AND r.deactivated_at < at - sanse.retention()
	              ORDER BY r.id
	                FOR UPDATE SKIP LOCKED);
	IF cardinality(ids) = 0 THEN
		RETURN 0;
	END IF;
	PERFORM sanse.audit('forget_resident', ids, 'retention: inactive longer than ' || sanse.retention()::text);
	RETURN sanse.forget(ids);
END
$$;
REVOKE ALL ON FUNCTION forget_expired(timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION forget_expired(timestamptz) IS 'forget the residents inactive for longer than sanse.retention at a time; returns how many';
