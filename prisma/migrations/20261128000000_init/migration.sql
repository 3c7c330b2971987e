-- CreateTable
CREATE TABLE `jobs` (
    `id` VARCHAR(36) NOT NULL,
    `status` ENUM('queued', 'processing', 'finished', 'failed', 'cancelled') NOT NULL DEFAULT 'queued',
    `workflow` VARCHAR(64) NOT NULL,
    `model` VARCHAR(128) NOT NULL,
    `prompt` TEXT NOT NULL,
    `params` JSON NOT NULL,
    `progress` TINYINT UNSIGNED NOT NULL DEFAULT 0,
    `step` INTEGER UNSIGNED NULL,
    `total_steps` INTEGER UNSIGNED NULL,
    `error` TEXT NULL,
    `attempts` INTEGER UNSIGNED NOT NULL DEFAULT 0,
    `worker_id` VARCHAR(64) NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `started_at` DATETIME(3) NULL,
    `finished_at` DATETIME(3) NULL,
    `updated_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    INDEX `jobs_status_created_at_idx`(`status`, `created_at`),
    INDEX `jobs_created_at_idx`(`created_at`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `outputs` (
    `id` INTEGER UNSIGNED NOT NULL AUTO_INCREMENT,
    `job_id` VARCHAR(36) NOT NULL,
    `idx` TINYINT UNSIGNED NOT NULL,
    `filename` VARCHAR(255) NOT NULL,
    `mime` VARCHAR(64) NOT NULL,
    `width` INTEGER UNSIGNED NOT NULL,
    `height` INTEGER UNSIGNED NOT NULL,
    `bytes` INTEGER UNSIGNED NOT NULL,
    `sha256` CHAR(64) NOT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    UNIQUE INDEX `outputs_job_id_idx_key`(`job_id`, `idx`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE `outputs` ADD CONSTRAINT `outputs_job_id_fkey` FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON DELETE CASCADE ON UPDATE CASCADE;
