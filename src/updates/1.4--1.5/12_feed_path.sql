-- issue 20 (the feed benchmark targets): the faster path of a department's
-- feed.  The index on feed_inbox's ID hash serves equality lookups only
-- (forgetting a resident): a hash index, cheaper to insert into than a btree
-- over random 32-byte keys.
DROP INDEX feed_inbox_hash;
CREATE INDEX feed_inbox_hash ON feed_inbox USING hash (id_number_hash) WHERE id_number_hash IS NOT NULL;
-- An apply reads a department's open sources whole (hashed) or by resident
-- (factor_source_open): the index by department only cost every new source.
DROP INDEX factor_source_department_open;
