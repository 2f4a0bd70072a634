-- Adaptive limits record their changes: service_limit_changes accepts source 'adaptive' (with
-- its evidence), and `adapted_at` says when the scheduler last judged a system's window, so
-- scheduler replicas judge each system once per period between them.
--
-- Expand only for the schema. A previous release's API lists an 'adaptive' change as it is
-- stored; its response schema knows only 'config' and 'operator', so during a rolling upgrade
-- an older API may answer 500 for the history of an adaptive system (GET /v1/limits/{system}).

-- AlterTable
ALTER TABLE "service_limit_changes" DROP CONSTRAINT "service_limit_changes_source_check",
ADD CONSTRAINT "service_limit_changes_source_check" CHECK ("source" IN ('config', 'operator', 'adaptive'));

-- AlterTable
ALTER TABLE "service_limits" ADD COLUMN "adapted_at" TIMESTAMPTZ(3);
