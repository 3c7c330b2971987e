-- AlterTable
ALTER TABLE `jobs` ADD COLUMN `webhook` VARCHAR(2048) NULL,
    ADD COLUMN `webhook_events` VARCHAR(64) NULL;

-- CreateTable
CREATE TABLE `webhook_secrets` (
    `id` INTEGER UNSIGNED NOT NULL AUTO_INCREMENT,
    `owner` VARCHAR(64) NOT NULL,
    `secret` VARCHAR(100) NOT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `expires_at` DATETIME(3) NULL,

    INDEX `webhook_secrets_owner_idx`(`owner`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `webhook_deliveries` (
    `seq` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    `webhook_id` VARCHAR(100) NOT NULL,
    `job_id` VARCHAR(36) NOT NULL,
    `event` VARCHAR(16) NOT NULL,
    `url` VARCHAR(2048) NOT NULL,
    `owner` VARCHAR(64) NOT NULL,
    `payload` MEDIUMTEXT NULL,
    `state` VARCHAR(16) NOT NULL DEFAULT 'pending',
    `attempts` INTEGER UNSIGNED NOT NULL DEFAULT 0,
    `last_status` INTEGER NULL,
    `last_error` VARCHAR(500) NULL,
    `next_attempt_at` DATETIME(3) NOT NULL,
    `locked_until` DATETIME(3) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `delivered_at` DATETIME(3) NULL,

    UNIQUE INDEX `webhook_deliveries_webhook_id_key`(`webhook_id`),
    INDEX `webhook_deliveries_state_next_attempt_at_idx`(`state`, `next_attempt_at`),
    INDEX `webhook_deliveries_job_id_seq_idx`(`job_id`, `seq`),
    PRIMARY KEY (`seq`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `webhook_attempts` (
    `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    `webhook_id` VARCHAR(100) NOT NULL,
    `job_id` VARCHAR(36) NOT NULL,
    `attempt` INTEGER UNSIGNED NOT NULL,
    `at` DATETIME(3) NOT NULL,
    `status_code` INTEGER NULL,
    `error` VARCHAR(500) NULL,
    `duration_ms` INTEGER UNSIGNED NOT NULL,

    INDEX `webhook_attempts_job_id_idx`(`job_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
