-- Whether an attempt called its dependent system. A handler may answer without a call (a cache
-- hit, a plan that needs none); such an attempt says nothing about the service's latency, so the
-- adaptive limiter leaves it out of its evidence.
--
-- Expand only: a column with a default; the previous release never sets it (every attempt it
-- records counts as a call, as before).

-- AlterTable
ALTER TABLE "step_attempts" ADD COLUMN "called" BOOLEAN NOT NULL DEFAULT true;
