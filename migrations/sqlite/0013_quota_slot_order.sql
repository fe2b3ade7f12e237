-- A claim takes its budget's least recently used free slot (`ORDER BY used_at, slot LIMIT 1`).
-- Without an index in that order every claim read and sorted all of the budget's slots: 1.0 ms
-- of a 1.2 ms claim at 2,000 slots on Postgres (EXPLAIN ANALYZE), 2.3 ms against 0.87 ms with
-- it (pgbench, one client). With it the claim reads the first matching entry. `used_at` is
-- then an indexed column, so a claim is no longer a HOT update; the dead entries it leaves are
-- skipped once seen (btree marks them) and removed by bottom-up deletion and vacuum: four
-- clients claiming without pause for 30 s kept their rate (about 2,000 claims/s).
CREATE INDEX upstream_quota_slots_lru ON upstream_quota_slots (budget, used_at, slot);
