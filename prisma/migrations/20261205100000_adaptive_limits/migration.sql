-- Adaptive concurrency limits: the scheduler moves a system's limit between bounds from its
-- recorded attempts. `adaptive` holds the bounds ({ min, max }) or null (static limit);
-- `adaptive_limit` is the limit the algorithm last chose and `baseline_latency_ms` the service's
-- own healthy latency it measures against. Each change it makes is logged in
-- service_limit_changes with source 'adaptive' and its `evidence` (window, attempts, timeouts,
-- errors, p50/p90, baseline, old -> new).
--
-- Expand only: the previous release never reads these columns.

-- AlterTable
ALTER TABLE "service_limits" ADD COLUMN "adaptive" JSONB,
ADD COLUMN "adaptive_limit" INTEGER,
ADD COLUMN "baseline_latency_ms" DOUBLE PRECISION;

-- AlterTable
ALTER TABLE "service_limit_changes" ADD COLUMN "evidence" JSONB;
