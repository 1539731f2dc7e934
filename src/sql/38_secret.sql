-----------------------------------------------------------------------------
-- The per-installation secret (keyed hashes of ID numbers; door tokens)
-----------------------------------------------------------------------------

CREATE TABLE installation_secret (
	id int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
	secret bytea NOT NULL CHECK (length(secret) >= 32)
);
REVOKE ALL ON installation_secret FROM PUBLIC;
COMMENT ON TABLE installation_secret IS 'random key made at install time; readable only by the extension owner';
INSERT INTO installation_secret (secret) VALUES (gen_random_bytes(32));

CREATE OR REPLACE FUNCTION installation_secret_replace() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM sanse.trigger_fired_on(TG_RELID, 'installation_secret_replace', '{sanse.installation_secret}');
	UPDATE sanse.installation_secret SET secret = NEW.secret WHERE id = NEW.id;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER installation_secret_replace BEFORE INSERT ON installation_secret
	FOR EACH ROW EXECUTE FUNCTION installation_secret_replace();

-- Keyed hash of a clear ID card number (blanks trimmed, letters upper-cased).
CREATE OR REPLACE FUNCTION id_number_hash(id_number text) RETURNS bytea
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, sanse
BEGIN ATOMIC
	SELECT hmac(convert_to(upper(btrim(id_number)), 'UTF8'), s.secret, 'sha256')
	  FROM sanse.installation_secret s;
END;
REVOKE ALL ON FUNCTION id_number_hash(text) FROM PUBLIC;
COMMENT ON FUNCTION id_number_hash(text) IS 'HMAC-SHA256 of a normalized ID card number under the installation secret';

CREATE TRIGGER installation_secret_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON installation_secret
	FOR EACH STATEMENT EXECUTE FUNCTION cache_invalidate();
SELECT pg_catalog.pg_extension_config_dump('installation_secret', '');
ALTER TABLE installation_secret ENABLE ALWAYS TRIGGER installation_secret_replace;
ALTER TABLE installation_secret ENABLE ALWAYS TRIGGER installation_secret_cache;
CREATE TRIGGER a_restore_guard BEFORE INSERT ON installation_secret FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
REVOKE ALL ON FUNCTION installation_secret_replace() FROM PUBLIC;
