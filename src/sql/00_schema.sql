-- Every role may use the schema: check_in is for everyone (the door token is
-- the proof), and without USAGE a client gets 42501 "permission denied for
-- schema", which an app cannot tell from "this worker may not check in".
-- Tables stay protected by their own grants, and nothing that runs as the
-- owner is executable by PUBLIC except check_in (sql/security.sql lists them).
GRANT USAGE ON SCHEMA sanse TO PUBLIC;
