-- sanse 1.3 -> 1.4, the closed loop (issue 19): its vocabularies become
-- lookup tables referenced by foreign keys instead of CHECK lists and
-- RETURN ARRAY functions, and its stages become data (loop_stage, loop_move)
-- that sanse.loop_transition moves every event by.  Their comments and
-- grants, and every function, follow from src/sql (60_events.sql,
-- 61_loop_stages.sql, 62_loop.sql, 63_loop_calls.sql).

CREATE TABLE event_kind (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
INSERT INTO event_kind (value, position, meaning) VALUES
	('overdue', 1, 'a missed visit window (section 5): open until a visit closes it'),
	('warning', 2, 'a smart early warning: a sensor, a health monitor or the hotline'),
	('finding', 3, 'a problem a worker found at the door'),
	('request', 4, 'the resident or the family asked for help'),
	('task', 5, 'dispatched from above, or whistled for a department');

CREATE TABLE event_scale (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL,
	start_level smallint NOT NULL UNIQUE CHECK (start_level BETWEEN 1 AND 4)
);
INSERT INTO event_scale (value, position, meaning, start_level) VALUES
	('grid', 1, 'solved in the grid: starts with the micro-grid leader (level 1)', 1),
	('department', 2, 'solved by departments jointly: starts with the total-grid leader, who whistles for them (level 3)', 3),
	('task_force', 3, 'a major problem: starts with the district''s task force (level 4)', 4);

CREATE TABLE event_status (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL
);
INSERT INTO event_status (value, position, meaning) VALUES
	('open', 1, 'an overdue event not yet closed by a visit'),
	('called', 2, 'a loop event waiting for a worker to arrive (呼叫); its arrival clock runs (loop_policy.arrive_within)'),
	('arrived', 3, 'a worker reported in (报到); its handling clock runs (loop_policy.handle_within)'),
	('handled', 4, 'handled (处置); no clock runs'),
	('fed_back', 5, 'the outcome was fed back (反馈) and waits for an evaluation'),
	('closed', 6, 'closed: an overdue event by a visit, a loop event by its evaluation (评价)');

CREATE TABLE loop_stage (
	value text PRIMARY KEY,
	position smallint NOT NULL UNIQUE,
	meaning text NOT NULL,
	verb text NOT NULL,
	done text NOT NULL,
	noun text NOT NULL,
	note_is text,
	by_worker boolean NOT NULL
);
INSERT INTO loop_stage (value, position, meaning, verb, done, noun, note_is, by_worker) VALUES
	('called', 1, 'raised, dispatched or whistled for (呼叫): the event waits for a worker to arrive', 'call', 'called', 'a call', 'detail', true),
	('arrived', 2, 'a worker reported in (报到): for an event about a resident, at the door, proved by its token', 'arrive at', 'arrived at', 'an arrival', NULL, true),
	('whistled', 3, 'a department was whistled for (网格吹哨): a child task with its own clocks; the event stays where it is', 'whistle for', 'whistled for', 'a whistle', 'department', true),
	('handled', 4, 'handled (处置), once every whistled child event is handled', 'handle', 'handled', 'a handling', 'action', true),
	('fed_back', 5, 'the outcome was fed back (反馈)', 'feed back on', 'fed back', 'a feedback', 'note', true),
	('reopened', 6, 'evaluated (评价) with a rating of 2 or less, or not solved: called again one level up', 'evaluate', 'evaluated', 'an evaluation', 'comment', false),
	('closed', 7, 'evaluated (评价) and closed: solved, rated 3 or more', 'evaluate', 'evaluated', 'an evaluation', 'comment', false);

CREATE TABLE loop_move (
	from_status text REFERENCES event_status (value),
	stage text NOT NULL REFERENCES loop_stage (value),
	to_status text NOT NULL REFERENCES event_status (value),
	not_before text REFERENCES event_status (value),
	ends_clock boolean NOT NULL,
	starts_clock boolean NOT NULL,
	climbs boolean NOT NULL,
	CONSTRAINT loop_move_once UNIQUE NULLS NOT DISTINCT (from_status, stage)
);
INSERT INTO loop_move (from_status, stage, to_status, not_before, ends_clock, starts_clock, climbs) VALUES
	(NULL, 'called', 'called', NULL, false, true, false),
	('called', 'arrived', 'arrived', 'called', true, true, false),
	('called', 'whistled', 'called', 'called', false, false, false),
	('arrived', 'whistled', 'arrived', 'called', false, false, false),
	('arrived', 'handled', 'handled', 'arrived', true, false, false),
	('handled', 'fed_back', 'fed_back', 'handled', false, false, false),
	('fed_back', 'reopened', 'called', 'fed_back', false, true, true),
	('fed_back', 'closed', 'closed', 'fed_back', false, false, false);

-- The columns that hold them now refer to them (the old CHECKs admitted
-- exactly these values, and 'evaluated', which nothing ever wrote).
ALTER TABLE event DROP CONSTRAINT event_kind_check, DROP CONSTRAINT event_status_check, DROP CONSTRAINT event_scale_check,
	ADD CONSTRAINT event_kind_fkey FOREIGN KEY (kind) REFERENCES event_kind (value),
	ADD CONSTRAINT event_status_fkey FOREIGN KEY (status) REFERENCES event_status (value),
	ADD CONSTRAINT event_scale_fkey FOREIGN KEY (scale) REFERENCES event_scale (value);
ALTER TABLE loop_policy DROP CONSTRAINT loop_policy_kind_check,
	ADD CONSTRAINT loop_policy_kind_check CHECK (kind <> 'overdue'),
	ADD CONSTRAINT loop_policy_kind_fkey FOREIGN KEY (kind) REFERENCES event_kind (value);
ALTER TABLE event_transition DROP CONSTRAINT event_transition_stage_check,
	ADD CONSTRAINT event_transition_stage_fkey FOREIGN KEY (stage) REFERENCES loop_stage (value);

-- Signatures that changed (the new ones come from src/sql).
DROP FUNCTION loop_refuse_stage(event, text, text);
DROP FUNCTION loop_end_clock(bigint, timestamptz, timestamptz);
