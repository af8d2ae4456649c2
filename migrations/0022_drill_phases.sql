-- Where a drill's time went: one {"name", "ms"} per phase (prepare, create, restore,
-- side_effects, checks with counts, amcheck and foreign_keys, drop), in order.
ALTER TABLE drills ADD COLUMN phases jsonb NOT NULL DEFAULT '[]';
