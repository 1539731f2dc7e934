-- make demo, step 3: the replay.
\echo 'replaying' :days 'days of check-ins (sanse.check_in) with a sweep every simulated hour, a line every ten days ...'
SELECT clock_timestamp() AS began \gset
CALL sanse_demo.replay(:'start', :days, :loop_rate);
SELECT format('replayed %s days in %s s', :days, round(extract(epoch FROM clock_timestamp() - :'began')::numeric, 1)) AS said \gset
\echo :said
