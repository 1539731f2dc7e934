-- make demo, step 6: what aggregate-only roles read, the screen published
-- as of the replay's end.
SELECT clock_timestamp() AS began \gset
SELECT sanse.publish_screen() \gset
SELECT format('published the screen for aggregate-only roles in %s s', round(extract(epoch FROM clock_timestamp() - :'began')::numeric, 1)) AS said \gset
\echo :said
