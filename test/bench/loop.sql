-- make bench: the closed loop's transitions against bare inserts, and the
-- sweep over open loop events.  Needs bench.tokens (run_bench.sh).

-- The plain tables the bare sides insert the same rows into: an event row
-- (raise) and a transition row (arrive, handle).  Same columns, a primary
-- key, nothing else.
CREATE TABLE bench.bare_event (LIKE sanse.event INCLUDING DEFAULTS INCLUDING IDENTITY, PRIMARY KEY (id));
CREATE TABLE bench.bare_transition (LIKE sanse.event_transition INCLUDING DEFAULTS INCLUDING IDENTITY, PRIMARY KEY (id));

-- Events waiting to be arrived at ('arrive': called) or handled ('handle':
-- arrived), the n-th taken by the n-th call of the sequence.
CREATE TABLE bench.loop_pool (kind text, n bigint, event_id bigint NOT NULL, resident_id bigint NOT NULL,
                              worker_id bigint NOT NULL, token text NOT NULL, PRIMARY KEY (kind, n));
CREATE SEQUENCE bench.arrive_seq;
CREATE SEQUENCE bench.handle_seq;

-- Top a pool up to `want` unused events, written as sanse.raise_event (and
-- sanse.arrive) would write them: the event, its first step, its
-- transitions.  Fails when a run used more events than the pool held (the
-- surplus calls would have found no event and measured nothing).
CREATE FUNCTION bench.refill_loop(pool text, want int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	used bigint;
	top bigint;
	nres bigint := (SELECT count(*) FROM bench.tokens);
	add int;
BEGIN
	EXECUTE format('SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM bench.%I', pool || '_seq') INTO used;
	SELECT coalesce(max(p.n), 0) INTO top FROM bench.loop_pool p WHERE p.kind = pool;
	IF used > top THEN
		RAISE EXCEPTION 'the % pool ran dry: % calls, % events', pool, used, top
			USING HINT = 'Raise BENCH_LOOP_POOL.';
	END IF;
	add := want - (top - used);
	IF add <= 0 THEN
		RETURN 0;
	END IF;
	WITH src AS (
		SELECT top + g AS n, t.resident_id, t.area_id, t.tier, t.leader_id, t.worker_id, t.token
		  FROM generate_series(1, add) g JOIN bench.tokens t ON t.id = 1 + (top + g) % nres),
	ev AS (
		INSERT INTO sanse.event (resident_id, area_id, kind, status, tier, level, assignee_id, due_at, level_since,
		                         next_step_at, scale, detail, called_at, arrived_at, arrived_by)
		SELECT s.resident_id, s.area_id, 'warning', CASE pool WHEN 'arrive' THEN 'called' ELSE 'arrived' END, s.tier, 1,
		       s.leader_id, now(), now(), now() + CASE pool WHEN 'arrive' THEN interval '15 minutes' ELSE interval '2 hours' END,
		       'grid', 'bench ' || pool || ' ' || s.n, now(),
		       CASE pool WHEN 'handle' THEN now() END, CASE pool WHEN 'handle' THEN s.worker_id END
		  FROM src s
		RETURNING id, resident_id, assignee_id, arrived_by, split_part(detail, ' ', 3)::bigint AS n),
	st AS (
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at) SELECT id, 1, assignee_id, now() FROM ev),
	tr AS (
		INSERT INTO sanse.event_transition (event_id, stage, at, worker_id, note)
		SELECT id, 'called', now(), NULL, 'bench' FROM ev
		UNION ALL
		SELECT id, 'arrived', now(), arrived_by, NULL FROM ev WHERE pool = 'handle')
	INSERT INTO bench.loop_pool (kind, n, event_id, resident_id, worker_id, token)
	SELECT pool, ev.n, ev.id, ev.resident_id, s.worker_id, s.token FROM ev JOIN src s ON s.n = ev.n;
	RETURN add;
END
$$;

-- The sweep case: `n` open warnings about residents, called a few minutes
-- ago (their 15-minute clocks still running).
CREATE FUNCTION bench.open_loop_events(n int) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	WITH ev AS (
		INSERT INTO sanse.event (resident_id, area_id, kind, status, tier, level, assignee_id, due_at, level_since,
		                         next_step_at, scale, detail, called_at)
		SELECT r.id, r.area_id, 'warning', 'called', r.tier, 1, sanse.leader_for(r.area_id, 1),
		       now() - interval '5 minutes', now() - interval '5 minutes', now() + interval '10 minutes',
		       'grid', 'bench sweep', now() - interval '5 minutes'
		  FROM (SELECT * FROM sanse.resident ORDER BY id LIMIT n) r
		RETURNING id, assignee_id, called_at),
	st AS (
		INSERT INTO sanse.event_step (event_id, level, assignee_id, at) SELECT id, 1, assignee_id, called_at FROM ev)
	INSERT INTO sanse.event_transition (event_id, stage, at, note) SELECT id, 'called', called_at, 'bench' FROM ev;
	RETURN (SELECT count(*) FROM sanse.event WHERE kind = 'warning' AND status = 'called');
END
$$;
