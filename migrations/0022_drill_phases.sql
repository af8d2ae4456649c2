-- Where a drill's time went: one {"name", "ms"} per phase (create, restore,
-- side_effects, counts, amcheck, foreign_keys, drop), in order.
ALTER TABLE drills ADD COLUMN phases jsonb NOT NULL DEFAULT '[]';
