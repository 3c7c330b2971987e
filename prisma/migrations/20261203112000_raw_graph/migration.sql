-- AlterTable
ALTER TABLE `jobs` ADD COLUMN `graph` JSON NULL;
