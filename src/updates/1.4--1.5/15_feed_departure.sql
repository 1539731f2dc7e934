-- A departure that is not true (issue 20): the micro-grid leader answers a
-- departure task "still here" (sanse.still_here); the task closes without
-- ending the care, and the department's later rows saying left are rejected
-- until its list settles it.
ALTER TABLE feed_departure
	ADD COLUMN refuted_at timestamptz,
	ADD COLUMN refuted_by bigint REFERENCES worker (id),
	ADD COLUMN settled_at timestamptz,
	ADD COLUMN settled_batch text,
	ADD CONSTRAINT feed_departure_one_answer CHECK (confirmed_at IS NULL OR refuted_at IS NULL),
	ADD CONSTRAINT feed_departure_settles_a_refutation CHECK (settled_at IS NULL OR refuted_at IS NOT NULL);
DROP INDEX feed_departure_open;
CREATE UNIQUE INDEX feed_departure_open ON feed_departure (resident_id, department) WHERE confirmed_at IS NULL AND settled_at IS NULL;

-- the loop's new stage and move (61_loop_stages.sql)
INSERT INTO loop_stage (value, position, meaning, verb, done, noun, note_is, by_worker) VALUES
	('still_here', 8, 'a departure a department reported answered at the door: the person is still there; the task closes and the care goes on', 'answer "still here" to', 'answered "still here"', 'a "still here" answer', 'note', true);
INSERT INTO loop_move (from_status, stage, to_status, not_before, ends_clock, starts_clock, climbs) VALUES
	('arrived', 'still_here', 'closed', 'arrived', true, false, false);
