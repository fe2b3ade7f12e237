-- A claim now takes any free slot, looking from a slot drawn at random (`sql::free_slots`),
-- rather than the least recently used one: concurrent claims seldom want the same row, so they
-- commit side by side instead of queueing on it, and `used_at` leaves every index, so a claim
-- is a HOT update. The index of 0013 made the least-recently-used search one entry long at
-- first, but every claim left a dead entry exactly where the next search started, until a
-- vacuum: after 50,000 claims a search read 226 index pages (0.7 ms). A slot is still taken
-- only while it has been unused for a whole window, whichever slot it is, so the quota holds
-- as before. During a rolling upgrade a replica of the previous version searches without the
-- index (a sort of the budget's slots, about 1 ms at 2,000) until it is replaced.
DROP INDEX upstream_quota_slots_lru;
