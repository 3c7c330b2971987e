-- AlterTable
ALTER TABLE `jobs` ADD COLUMN `idempotency_key` VARCHAR(128) NULL,
    ADD COLUMN `request_hash` CHAR(64) NULL;

-- CreateIndex
CREATE UNIQUE INDEX `jobs_idempotency_key_key` ON `jobs`(`idempotency_key`);
