-- Idempotency keys compare exactly: `Order-ABC-1` and `order-abc-1` are two keys (the table's
-- utf8mb4_unicode_ci made them one). Keys are visible ASCII without spaces, so PAD SPACE is moot.
ALTER TABLE `jobs` MODIFY `idempotency_key` VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

-- The run last counted in `attempts` (the worker event `epoch:seq` of its STARTED), so a replayed
-- STARTED is not counted twice.
ALTER TABLE `jobs` ADD COLUMN `last_run` VARCHAR(80) NULL;
