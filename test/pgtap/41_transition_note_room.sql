-- pgTAP: a worker's text of free_text_max() characters fits the transition
-- that records it, with the words sanse puts around it (found in issue 19,
-- left then: an evaluation's comment of 1,983 to 2,000 characters passed the
-- 22001 check, then failed 23514 event_transition_note_check, because the
-- transition's note is '<rating> by <who>: <comment>').  A text over the
-- limit is still refused with 22001 before anything is written.
BEGIN;
SET LOCAL search_path = public, sanse;
SET LOCAL TimeZone = 'UTC';
SET LOCAL sanse.max_backdate = '10 years';
\ir include/helpers.psql
\ir include/district.psql
SELECT plan(6);

INSERT INTO resident (area_id, name, factors) VALUES (pg_temp.area_id('d.t.v.tg.g.m1'), 'Li', '{accident_risk}');
SELECT pg_temp.resident_id('Li') AS li, pg_temp.worker_id('lead m1') AS lead \gset
SELECT sanse.raise_event('warning', :li, 'a long story', 'grid', '2024-03-05 10:00+08') AS e \gset
SELECT sanse.arrive(:e, :lead, sanse.door_token(:li), '2024-03-05 10:05+08');
SELECT sanse.handle_event(:e, :lead, repeat('h', sanse.free_text_max()), '2024-03-05 10:10+08');
SELECT sanse.feed_back(:e, :lead, repeat('f', sanse.free_text_max()), '2024-03-05 10:15+08');

SELECT is(pg_temp.sqlstate_of(format($$SELECT sanse.evaluate(%s, 4, true, 'supervisor', repeat('c', sanse.free_text_max() + 1), '2024-03-05 10:20+08')$$, :e)),
          '22001', 'a comment one character over free_text_max() is refused with 22001');
SELECT is((SELECT status FROM sanse.event WHERE id = :e), 'fed_back', '... and nothing was written');
SELECT lives_ok(format($$SELECT sanse.evaluate(%s, 4, true, 'supervisor', repeat('c', sanse.free_text_max()), '2024-03-05 10:20+08')$$, :e),
                'a comment of exactly free_text_max() characters is taken (it was 23514 before)');
SELECT is((SELECT status FROM sanse.event WHERE id = :e), 'closed', 'the evaluation closed the event');
-- written by hand from spec 7: rating, who, then the comment whole
SELECT is((SELECT note FROM sanse.event_transition WHERE event_id = :e AND stage = 'closed'),
          '4 by supervisor: ' || repeat('c', 2000), 'the transition keeps the rating, who evaluated and the whole comment');
SELECT is(pg_temp.sqlstate_of(format($$INSERT INTO sanse.event_transition (event_id, stage, at, note) VALUES (%s, 'closed', now(), repeat('x', sanse.free_text_max() + 300))$$, :e)),
          '23514', 'a note beyond the limit and the room for sanse''s own words is still refused by the table');

SELECT * FROM finish();
ROLLBACK;
