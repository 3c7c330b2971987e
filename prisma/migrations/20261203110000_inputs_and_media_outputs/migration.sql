-- AlterTable
ALTER TABLE `jobs` ADD COLUMN `inputs` JSON NULL,
    ADD COLUMN `prompts` JSON NULL;

-- AlterTable
ALTER TABLE `outputs` ADD COLUMN `kind` ENUM('image', 'video', 'audio') NOT NULL DEFAULT 'image',
    ADD COLUMN `duration_ms` INTEGER UNSIGNED NULL,
    ADD COLUMN `frames` INTEGER UNSIGNED NULL;
