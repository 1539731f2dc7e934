-- Catch-up sweeps (issue 22): what each sweep left to the next call, and
-- escalate_events' new bound (p_until): the old signature goes.
CREATE TABLE sweep_progress (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	at timestamptz NOT NULL,
	started_at timestamptz NOT NULL,
	ended_at timestamptz NOT NULL,
	overdue_opened integer NOT NULL,
	escalations integer NOT NULL,
	overdue_left boolean NOT NULL,
	escalations_left boolean NOT NULL
);
REVOKE ALL ON sweep_progress FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('sweep_progress', '');
DROP FUNCTION escalate_events(timestamptz, bigint, bigint);
