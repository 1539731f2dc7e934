-----------------------------------------------------------------------------
-- Factors from their sources (spec 9): provenance of residents' factors in
-- sanse.factor_source (91_feed_tables.sql), a department's or the visit's.
-----------------------------------------------------------------------------

-- The union of a resident's open sources, in the order of current (the
-- factors it has now that stay), then the new ones by name.
CREATE OR REPLACE FUNCTION factor_union(p_resident bigint, current text[]) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT ARRAY(SELECT c.f FROM unnest(factor_union.current) WITH ORDINALITY c(f, o)
	              WHERE EXISTS (SELECT 1 FROM sanse.factor_source s
	                             WHERE s.resident_id = factor_union.p_resident AND s.factor = c.f AND s.until IS NULL)
	              ORDER BY c.o)
	    || ARRAY(SELECT DISTINCT s.factor FROM sanse.factor_source s
	              WHERE s.resident_id = factor_union.p_resident AND s.until IS NULL
	                AND s.factor <> ALL (factor_union.current)
	              ORDER BY s.factor);
END;
REVOKE ALL ON FUNCTION factor_union(bigint, text[]) FROM PUBLIC;

-- What a write of resident.factors means: the factors it adds become the
-- visit source's (unless a department asserts them already), the ones it
-- removes end the visit source's assertion; a department's factor stays (the
-- department corrects its list).  Fired before classification (name order).
CREATE OR REPLACE FUNCTION resident_factor_sources() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
DECLARE
	kept text[];
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_factor_sources() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	IF TG_OP = 'INSERT' THEN
		INSERT INTO sanse.factor_source (resident_id, factor, source, since)
		SELECT DISTINCT n.id, f, 'visit', now()
		  FROM new_rows n, unnest(n.factors) f
		 WHERE f IS NOT NULL AND n.forgotten_at IS NULL
		   AND NOT EXISTS (SELECT 1 FROM sanse.factor_source s
		                    WHERE s.resident_id = n.id AND s.factor = f AND s.until IS NULL);
		RETURN NULL;
	END IF;
	IF NEW.forgotten_at IS NOT NULL THEN
		RETURN NEW;		-- forgetting erases (resident_forget_sources)
	END IF;
	UPDATE sanse.factor_source s SET until = now()
	 WHERE s.resident_id = NEW.id AND s.source = 'visit' AND s.until IS NULL
	   AND s.factor = ANY (OLD.factors) AND s.factor <> ALL (coalesce(NEW.factors, '{}'));
	INSERT INTO sanse.factor_source (resident_id, factor, source, since)
	SELECT DISTINCT NEW.id, f, 'visit', now()
	  FROM unnest(NEW.factors) f
	 WHERE f IS NOT NULL AND f <> ALL (coalesce(OLD.factors, '{}'))
	   AND NOT EXISTS (SELECT 1 FROM sanse.factor_source s
	                    WHERE s.resident_id = NEW.id AND s.factor = f AND s.until IS NULL);
	kept := ARRAY(SELECT DISTINCT s.factor FROM sanse.factor_source s
	               WHERE s.resident_id = NEW.id AND s.until IS NULL AND s.source <> 'visit'
	                 AND s.factor <> ALL (coalesce(NEW.factors, '{}'))
	               ORDER BY s.factor);
	IF cardinality(kept) > 0 THEN
		NEW.factors := coalesce(NEW.factors, '{}') || kept;
	END IF;
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION resident_factor_sources() FROM PUBLIC;

-- Forgetting a resident erases their factors' provenance and what the feeds
-- said about them (name, hash).
CREATE OR REPLACE FUNCTION resident_forget_sources() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse AS $$
BEGIN
	IF TG_RELID IS DISTINCT FROM 'sanse.resident'::regclass THEN
		RAISE EXCEPTION 'trigger function resident_forget_sources() fired on table %', TG_RELID::regclass
			USING ERRCODE = '39P01', DETAIL = 'It only works as a trigger on sanse.resident.';
	END IF;
	DELETE FROM sanse.factor_source s WHERE s.resident_id = NEW.id;
	-- every feed row naming the person (applied or not), by the hash it had
	UPDATE sanse.feed_inbox i SET name = NULL, id_number_hash = NULL, area_path = NULL, factors = NULL
	 WHERE i.id_number_hash = OLD.id_number_hash;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION resident_forget_sources() FROM PUBLIC;

-- The tier history rows a feed's changes made (after the id mark, at this
-- transaction's time) name it.
CREATE OR REPLACE FUNCTION feed_history_reason(p_mark bigint, p_residents bigint[], p_reason text) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	UPDATE sanse.tier_history h SET reason = feed_history_reason.p_reason
	 WHERE h.id > feed_history_reason.p_mark AND h.changed_at = now() AND h.reason IS NULL
	   AND h.resident_id = ANY (feed_history_reason.p_residents);
END;
REVOKE ALL ON FUNCTION feed_history_reason(bigint, bigint[], text) FROM PUBLIC;
