-- Fair release of the steps waiting for a dependent system's limit: each namespace with steps
-- waiting for a system has a virtual `pass` (stride scheduling); a release admits the waiting
-- steps with the smallest pass + rank / weight first and advances the passes of the namespaces
-- it served (service-limit-sql.ts, LIMIT_RELEASE_SQL). A namespace's row exists only while it
-- has steps waiting for the system: one that stops waiting keeps no credit.
--
-- Expand only: the previous release never reads this table.

-- CreateTable
CREATE TABLE "service_limit_shares" (
    "dependent_system" TEXT NOT NULL,
    "namespace" TEXT NOT NULL,
    "pass" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "service_limit_shares_pkey" PRIMARY KEY ("dependent_system","namespace")
);
