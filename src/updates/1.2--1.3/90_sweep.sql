-- sanse.sweep() as 75_sweeps.sql has it: it gained the publication of the
-- screen (30_cells) and the lock bound (50_conc), so it is replaced once, here,
-- after both concerns' objects exist.
CREATE OR REPLACE FUNCTION sweep(at timestamptz DEFAULT now(),
                                 OUT overdue_opened integer, OUT escalations integer, OUT skipped boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, sanse SET lock_timeout = '5s' AS $$
DECLARE
	holder int;
BEGIN
	PERFORM sanse.check_sweep_time(at);
	overdue_opened := 0;
	escalations := 0;
	BEGIN
		LOCK TABLE sanse.sweep_lock IN EXCLUSIVE MODE NOWAIT;
	EXCEPTION WHEN lock_not_available THEN
		SELECT l.pid INTO holder FROM pg_catalog.pg_locks l
		 WHERE l.locktype = 'relation' AND l.relation = 'sanse.sweep_lock'::regclass AND l.granted
		   AND l.pid <> pg_catalog.pg_backend_pid()
		 LIMIT 1;
		PERFORM pg_catalog.nextval('sanse.sweep_skipped');
		RAISE WARNING 'sanse.sweep skipped: another sweep is running (pid %)', coalesce(holder::text, 'unknown')
			USING HINT = 'Skips are counted in sanse.sweep_status.';
		skipped := true;
		RETURN;
	END;
	BEGIN
		overdue_opened := sanse.sweep_overdue(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: overdue residents changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('overdue events');
	END;
	BEGIN
		escalations := sanse.sweep_escalations(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: open events changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('escalations');
	END;
	BEGIN
		PERFORM sanse.forget_expired(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: residents to forget changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('forgetting');
	END;
	BEGIN
		PERFORM sanse.fold_worker_month();
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the check-in tally changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('tally fold');
	END;
	BEGIN
		PERFORM sanse.record_history(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the daily history changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('daily history');
	END;
	-- the screen aggregate-only roles read (77_published.sql)
	BEGIN
		PERFORM sanse.publish_screen_if_due(at);
	EXCEPTION WHEN serialization_failure THEN
		RAISE WARNING 'sanse.sweep: the screen''s numbers changed under this % transaction; left to the next sweep',
			current_setting('transaction_isolation');
	WHEN lock_not_available THEN
		PERFORM sanse.sweep_gave_up('screen publication');
	END;
	skipped := false;
END
$$;
