-- A worker's text of free_text_max() characters fits the transition that
-- records it, with sanse's own words around it (an evaluation's comment of
-- 1,983 to 2,000 characters failed 23514 before).
ALTER TABLE sanse.event_transition DROP CONSTRAINT event_transition_note_check,
	ADD CONSTRAINT event_transition_note_check CHECK (length(note) <= @SANSE_FREE_TEXT_MAX@ + 256);
