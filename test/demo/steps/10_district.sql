-- make demo, step 1: the district's grid, its workers of the five forces and
-- its departments (sanse_demo.build_grid), no residents yet.
\echo '== The district =='
SELECT clock_timestamp() AS began, date_trunc('hour', now()) - (:days + 1) * interval '1 day' AS start \gset
SELECT setseed(:seed) AS seeded \gset
SELECT sanse_demo.build_grid(:scale) AS built \gset
