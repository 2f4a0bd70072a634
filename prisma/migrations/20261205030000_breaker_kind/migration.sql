-- A breaker says which kind of system it guards, so code branches on the kind instead of the
-- `webhook:` prefix of its name: `step` (a service steps call; evidence from step_attempts,
-- holds and releases steps) or `webhook` (a webhook receiver; evidence from
-- webhook_delivery_attempts, holds and releases deliveries). Another kind of limited system
-- adds its value to the CHECK.
--
-- Expand only: the previous release inserts rows without a kind and gets the default, `step`.
-- It creates a webhook's breaker row when the webhook is created, so a webhook created by a
-- previous-release API during the rollout has a `step` row until the UPDATE below is run again
-- (it is idempotent).

-- AlterTable
ALTER TABLE "circuit_breakers" ADD COLUMN "kind" TEXT NOT NULL DEFAULT 'step';

-- Backfill from the names: a webhook receiver's breaker is `webhook:<webhook id>`.
UPDATE "circuit_breakers" SET "kind" = 'webhook' WHERE "dependent_system" LIKE 'webhook:%';

ALTER TABLE "circuit_breakers" ADD CONSTRAINT "circuit_breakers_kind_check" CHECK ("kind" IN ('step', 'webhook'));
