-- make demo, step 4: at the end of the replayed months health sends a
-- corrected list (a snapshot): some people's illness changed, moving them
-- between tiers at once (dynamic adjustment, 动态调整), and a few newly
-- discharged people join.  (sanse.apply_feed reclassifies at the time it
-- runs, now, so the list comes after the replayed past, not inside it.)
\echo '== Health corrects its list (dynamic adjustment, 动态调整) =='
SELECT sanse_demo.correct_health(:scale, 'list-2') AS moved \gset
\set batch list-2
\set dept health
\i test/demo/load_feed.psql
-- the newcomers get their five-for-one
SELECT sanse_demo.settle(:scale, NULL) AS settled \gset
SELECT coalesce(h.old_tier::text, '-') AS "from", coalesce(h.new_tier::text, '-') AS "to", count(*) AS residents, h.reason
  FROM sanse.tier_history h WHERE h.reason = 'feed health, batch list-2'
 GROUP BY 1, 2, 4 ORDER BY 2 DESC, 1;
