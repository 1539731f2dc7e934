-- make demo, step 5: devices (spec 10, issue 21).  Some red and yellow
-- homes get a smoke detector, a water meter and a door contact (reporting
-- every 10 minutes), installed 26 hours ago; their readings of the day are
-- replayed through sanse's write path, an hour at a time, with a sweep
-- (sanse.sweep) after each hour: three smoke alarms, one red home's water
-- meter quiet from its last use (a warning 12 hours later), one door
-- contact that stops reporting (a task to fix it 30 minutes later).  Then
-- the loop answers them: the home's carer arrives at the door 10 minutes
-- after the call (its door token), handles, feeds back, and the resident
-- evaluates.  Needs only the district (step 1); uses no psql variable.
\echo 'devices: some red and yellow homes get devices; a day of their readings, a sweep every hour ...'
SELECT clock_timestamp() AS began \gset
CREATE OR REPLACE FUNCTION sanse_demo.devices(p_homes int DEFAULT 30) RETURNS TABLE (what text, n bigint)
LANGUAGE plpgsql SET search_path = sanse, public AS $$
DECLARE
	t0 timestamptz := date_trunc('hour', now()) - interval '26 hours';
	h int;
	quiet_home bigint;
	silent_door bigint;
	e record;
	w bigint;
BEGIN
	CREATE TEMP TABLE demo_home ON COMMIT DROP AS
	SELECT r.id, r.area_id, r.tier, row_number() OVER (ORDER BY r.tier DESC, r.id) AS n
	  FROM sanse.resident r
	 WHERE r.active AND r.forgotten_at IS NULL AND r.tier IN ('red', 'yellow')
	   AND EXISTS (SELECT 1 FROM sanse.carer c WHERE c.resident_id = r.id)
	 ORDER BY r.tier DESC, r.id LIMIT p_homes;
	PERFORM sanse.reading_partition(d::date)
	   FROM generate_series((t0 AT TIME ZONE sanse.current_zone())::date, (now() AT TIME ZONE sanse.current_zone())::date + 1, '1 day') d;
	INSERT INTO sanse.device (kind, resident_id, area_id, report_every, installed_at)
	SELECT k, h.id, h.area_id, '10 minutes', t0 FROM demo_home h, unnest(ARRAY['smoke', 'water_meter', 'door']) k ORDER BY h.n, k;
	quiet_home := (SELECT d.id FROM sanse.device d JOIN demo_home h ON h.id = d.resident_id
	                WHERE d.kind = 'water_meter' AND h.tier = 'red' ORDER BY h.n LIMIT 1);
	silent_door := (SELECT d.id FROM sanse.device d JOIN demo_home h ON h.id = d.resident_id
	                 WHERE d.kind = 'door' ORDER BY h.n DESC LIMIT 1);
	-- the day, an hour at a time: meters used most hours (the quiet one only
	-- in its first two), doors opened now and then, the silent door gone
	-- after five hours, alarms at hours 3, 9 and 15
	FOR h IN 0 .. 26 LOOP
		INSERT INTO sanse.reading (device_id, at, value, alarm)
		SELECT d.id, t,
		       CASE WHEN d.kind = 'smoke' THEN NULL
		            WHEN d.id = quiet_home THEN (h < 2 AND t = t0 + interval '1 hour' * h)::int
		            ELSE ((d.id + extract(epoch FROM t)::bigint / 600) % 3 = 0)::int END,
		       d.kind = 'smoke' AND t = t0 + interval '1 hour' * h AND h IN (3, 9, 15)
		       AND d.resident_id = (SELECT x.id FROM demo_home x WHERE x.n = 1 + h / 3)
		  FROM sanse.device d JOIN demo_home x ON x.id = d.resident_id,
		       generate_series(t0 + interval '1 hour' * h, t0 + interval '1 hour' * h + interval '50 minutes', '10 minutes') t
		 WHERE NOT (d.id = silent_door AND t >= t0 + interval '5 hours')
		   AND t <= now();
		PERFORM sanse.sweep(least(t0 + interval '1 hour' * (h + 1), now()));
	END LOOP;
	-- the loop answers every device's warning and task
	FOR e IN SELECT x.id, x.called_at, x.resident_id FROM sanse.event x
	          WHERE x.device_id IS NOT NULL AND x.status = 'called' ORDER BY x.called_at LOOP
		w := (SELECT c.worker_id FROM sanse.carer c WHERE c.resident_id = e.resident_id ORDER BY c.worker_id LIMIT 1);
		PERFORM sanse.arrive(e.id, w, sanse.door_token(e.resident_id), e.called_at + interval '10 minutes');
		PERFORM sanse.handle_event(e.id, w, 'checked on the home', e.called_at + interval '30 minutes');
		PERFORM sanse.feed_back(e.id, w, 'all well', e.called_at + interval '40 minutes');
		PERFORM sanse.evaluate(e.id, 5, true, 'resident', NULL, e.called_at + interval '1 hour');
	END LOOP;
	RETURN QUERY
	SELECT 'homes with devices', count(*) FROM demo_home
	UNION ALL SELECT 'devices', count(*) FROM sanse.device
	UNION ALL SELECT 'readings', count(*) FROM sanse.reading
	UNION ALL SELECT format('%s %s', x.kind, x.rule), count(*) FROM sanse.event x WHERE x.device_id IS NOT NULL GROUP BY x.kind, x.rule
	UNION ALL SELECT 'answered in time and closed', count(*) FROM sanse.event x
	           WHERE x.device_id IS NOT NULL AND x.status = 'closed' AND x.arrived_at < x.called_at + interval '15 minutes';
END
$$;
SELECT what, n FROM sanse_demo.devices();
SELECT format('devices: a day of readings replayed and answered in %s s', round(extract(epoch FROM clock_timestamp() - :'began')::numeric, 1)) AS said \gset
\echo :said
