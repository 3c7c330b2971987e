-- AlterTable
ALTER TABLE `jobs` ADD COLUMN `end_event_id` VARCHAR(40) NULL;
