-- make demo, step 7: the supervisor's screen.
\i test/demo/screen.sql
