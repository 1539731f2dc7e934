-- sanse 1.4 -> 1.5, a check-in and the loop's transitions that cost what
-- their writes cost (issue 22).  The helpers that were SQL functions with a
-- query (leader_for, carers_of, scale_level, open_overdue_event,
-- tally_missed, tier_at) become PL/pgSQL in place: same signatures, so
-- src/sql's CREATE OR REPLACE does it.  The loop's checks return true
-- instead of nothing, so loop_transition calls them as expressions rather
-- than one statement each, and loop_end_clock also names the steps it
-- removes (OUT columns), which loop_move_event writes into the transition:
-- a return type changes, so they are dropped here and created again from
-- src/sql (62_loop.sql, 64_loop_authority.sql); loop_move_event gains a
-- parameter, so its old signature goes too.  Their grants follow from src/sql.
DROP FUNCTION loop_end_clock(event, timestamptz, timestamptz);
DROP FUNCTION loop_check_standing(event, loop_stage, bigint, text, text, text);
DROP FUNCTION loop_check_values(loop_stage, text, integer, boolean, text);
DROP FUNCTION loop_time(timestamptz, text, timestamptz, text);
DROP FUNCTION loop_move_event(event, loop_move, timestamptz, bigint, timestamptz, text, integer, boolean, text);
