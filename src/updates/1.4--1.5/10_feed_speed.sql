-- issue 20 (speed, existence leak): what apply_feed withholds from a loader
-- about a row (a resident outside its areas has the number) is kept for the
-- data office in feed_inbox.withheld (the column's comment follows, generated).
ALTER TABLE feed_inbox ADD COLUMN withheld text;
-- a page of feed rows keeps room for a new version of each (apply_feed
-- writes every row's outcome: HOT updates, no index entries); pages loaded
-- before keep their room as it was
ALTER TABLE feed_inbox SET (fillfactor = 45);
