-- MAX_LIVE_JOBS_PER_OWNER: an owner's queued and processing jobs counted on an index range
CREATE INDEX `jobs_owner_status_idx` ON `jobs`(`owner`, `status`);
