-- Every job has an owner: the owner of the API key that submitted it. Jobs from before keys existed,
-- and jobs submitted while AUTH is off, belong to `local`.
ALTER TABLE `jobs` ADD COLUMN `owner` VARCHAR(64) NOT NULL DEFAULT 'local';

-- Idempotency keys are per owner: two owners may use the same key for two different jobs.
DROP INDEX `jobs_idempotency_key_key` ON `jobs`;
CREATE UNIQUE INDEX `jobs_owner_idempotency_key_key` ON `jobs`(`owner`, `idempotency_key`);

-- An owner's history, newest first.
CREATE INDEX `jobs_owner_created_at_idx` ON `jobs`(`owner`, `created_at`);

-- CreateTable
CREATE TABLE `api_keys` (
    `id` VARCHAR(36) NOT NULL,
    `owner` VARCHAR(64) NOT NULL,
    `name` VARCHAR(128) NOT NULL,
    `scopes` VARCHAR(64) NOT NULL,
    `secret_hash` CHAR(64) NOT NULL,
    `prefix` VARCHAR(16) NOT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `last_used_at` DATETIME(3) NULL,
    `revoked_at` DATETIME(3) NULL,

    UNIQUE INDEX `api_keys_secret_hash_key`(`secret_hash`),
    INDEX `api_keys_owner_idx`(`owner`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
