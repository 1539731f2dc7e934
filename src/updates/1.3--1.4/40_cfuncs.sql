-- The flags check_in sets on a visit, as a vocabulary the catalog can answer
-- (src/sql/55_visit.sql has the same table for a fresh install; its grant and
-- comments follow, generated).
CREATE TABLE visit_flag (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
INSERT INTO visit_flag (value, position, meaning) VALUES
	('quick_succession', 1, 'checked in at another door less than sanse.quick_succession after the worker''s previous check-in'),
	('impossible_travel', 2, 'the worker''s previous door is farther away than sanse.max_travel_speed allows in the time between'),
	('repeat_visit', 3, 'the same worker checked in at the same door less than sanse.repeat_window before'),
	('late', 4, 'at or after the due time of the resident''s visit window');
