import { defineConfig } from 'prisma/config';

// Prisma 7 reads the connection URL from here rather than from the schema. Only the CLI uses
// it; the application builds its own connection from DATABASE_URL (packages/db).
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/switchyard' },
});
