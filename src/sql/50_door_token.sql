-----------------------------------------------------------------------------
-- Door QR tokens (专属二维码)
-----------------------------------------------------------------------------

CREATE TABLE door_token (
	nonce bytea PRIMARY KEY CHECK (length(nonce) = 15),
	resident_id bigint NOT NULL REFERENCES resident (id) ON DELETE CASCADE,
	version int NOT NULL,
	issued_at timestamptz NOT NULL DEFAULT now(),
	revoked_at timestamptz,
	UNIQUE (resident_id, version)
);
CREATE UNIQUE INDEX door_token_current ON door_token (resident_id) WHERE revoked_at IS NULL;
REVOKE ALL ON door_token FROM PUBLIC;
COMMENT ON TABLE door_token IS 'door QR tokens: a random nonce per resident and version; the token text is derived with the installation secret';

CREATE OR REPLACE FUNCTION door_token_nonce() RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION door_token_sign(nonce bytea) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT;
CREATE OR REPLACE FUNCTION door_token_open(token text) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT;
REVOKE ALL ON FUNCTION door_token_nonce() FROM PUBLIC;
REVOKE ALL ON FUNCTION door_token_sign(bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION door_token_open(text) FROM PUBLIC;
-- For the closed loop's arrive: verify a token (28000 and the LOG line, as
-- check_in, for a missing, malformed or forged one) and refuse an unknown
-- or revoked one.
CREATE OR REPLACE FUNCTION door_token_verify(token text, worker_id bigint, act text) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION door_token_refuse(worker_id bigint, why text, act text) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION door_token_verify(text, bigint, text), door_token_refuse(bigint, text, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION door_token(resident_id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, sanse AS $$
#variable_conflict use_column
DECLARE
	current_nonce bytea;
BEGIN
	IF sanse.on_standby() THEN
		-- a hot standby reprints a token already issued, and issues none
		PERFORM 1 FROM sanse.resident r WHERE r.id = door_token.resident_id
		   AND sanse.caller_sees(r.area_id, 'read');
	ELSE
		PERFORM 1 FROM sanse.resident r WHERE r.id = door_token.resident_id
		   AND sanse.caller_sees(r.area_id, 'read') FOR KEY SHARE;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', door_token.resident_id USING ERRCODE = '22023';
	END IF;
	IF EXISTS (SELECT 1 FROM sanse.resident r WHERE r.id = door_token.resident_id AND r.forgotten_at IS NOT NULL) THEN
		RAISE EXCEPTION 'resident % has been forgotten', door_token.resident_id
			USING ERRCODE = '55000', DETAIL = 'A forgotten resident gets no door token.';
	END IF;
	SELECT t.nonce INTO current_nonce FROM sanse.door_token t
	 WHERE t.resident_id = door_token.resident_id AND t.revoked_at IS NULL;
	IF NOT FOUND AND sanse.on_standby() THEN
		RAISE EXCEPTION 'resident % has no door token yet, and this server is a hot standby', door_token.resident_id
			USING ERRCODE = '25006', HINT = 'Issue it on the primary; a standby reprints tokens already issued.';
	ELSIF NOT FOUND THEN
		INSERT INTO sanse.door_token (nonce, resident_id, version)
		SELECT sanse.door_token_nonce(), door_token.resident_id,
		       coalesce(max(t.version), 0) + 1
		  FROM sanse.door_token t WHERE t.resident_id = door_token.resident_id
		ON CONFLICT (resident_id) WHERE revoked_at IS NULL DO NOTHING;
		SELECT t.nonce INTO STRICT current_nonce FROM sanse.door_token t
		 WHERE t.resident_id = door_token.resident_id AND t.revoked_at IS NULL;
	END IF;
	RETURN sanse.door_token_sign(current_nonce);
END
$$;
REVOKE ALL ON FUNCTION door_token(bigint) FROM PUBLIC;
COMMENT ON FUNCTION door_token(bigint) IS 'the resident''s current door QR token (made on first call; a hot standby reprints one already made)';

CREATE OR REPLACE FUNCTION revoke_door_token(resident_id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, sanse AS $$
BEGIN
	PERFORM 1 FROM sanse.resident r WHERE r.id = revoke_door_token.resident_id
	   AND sanse.caller_sees(r.area_id, 'read') FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'resident % does not exist', revoke_door_token.resident_id USING ERRCODE = '22023';
	END IF;
	UPDATE sanse.door_token t SET revoked_at = now()
	 WHERE t.resident_id = revoke_door_token.resident_id AND t.revoked_at IS NULL;
	PERFORM sanse.audit('token_revocation', ARRAY[revoke_door_token.resident_id], NULL);
	RETURN sanse.door_token(revoke_door_token.resident_id);
END
$$;
REVOKE ALL ON FUNCTION revoke_door_token(bigint) FROM PUBLIC;
COMMENT ON FUNCTION revoke_door_token(bigint) IS 'kill the resident''s door token and return a new one';

SELECT pg_catalog.pg_extension_config_dump('door_token', '');
CREATE TRIGGER a_restore_guard BEFORE INSERT ON door_token FOR EACH STATEMENT
	WHEN (pg_catalog.left(pg_catalog.current_query(), 200) ~* '^\s*copy\s')
	EXECUTE FUNCTION restore_guard();
