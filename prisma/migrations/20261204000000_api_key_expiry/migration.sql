-- API keys may expire: after expires_at a key is refused like an unknown one. Null: it never
-- expires (every key made before this migration). Expand only: the previous release's code
-- neither reads nor writes the column, and its keys keep working.

-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN "expires_at" TIMESTAMPTZ(3);
