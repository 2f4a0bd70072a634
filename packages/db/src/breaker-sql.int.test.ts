import { type BreakerGate, blockingHold } from '@switchyard/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCKED_BY_BREAKER, HOLD_REASON, HOLD_UNTIL } from './breaker-sql.ts';

// The SQL renderings of core's hold rule are evaluated by Postgres itself, over every
// combination of breaker state, probe time, Retry-After hold and probe flag, and compared with
// core's blockingHold: the rule the claim statement applies is the rule core states.
const SERVER_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const HOUR_MS = 3_600_000;

let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: SERVER_URL });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
});

type Case = BreakerGate & { probe: boolean };

function cases(now: Date): Case[] {
  const times = [null, new Date(now.getTime() - HOUR_MS), new Date(now.getTime() + HOUR_MS)];
  const all: Case[] = [];
  for (const state of ['closed', 'open', 'half_open'] as const)
    for (const nextProbeAt of times)
      for (const holdUntil of [...times, new Date(now.getTime() + 2 * HOUR_MS)])
        for (const probe of [false, true]) all.push({ state, nextProbeAt, holdUntil, probe });
  return all;
}

async function evaluateInSql(c: Case): Promise<{ blocked: boolean; reason: string; until: Date | null }> {
  const { rows } = await client.query(
    `SELECT ${BLOCKED_BY_BREAKER} AS blocked, ${HOLD_REASON} AS reason, ${HOLD_UNTIL} AS until
       FROM (SELECT $1::text AS state, $2::timestamptz AS next_probe_at, $3::timestamptz AS hold_until) b,
            (SELECT $4::boolean AS probe) s`,
    [c.state, c.nextProbeAt, c.holdUntil, c.probe],
  );
  return rows[0];
}

describe('the breaker rule in SQL', () => {
  it('blocks, explains and times a hold exactly as core blockingHold decides', async () => {
    const { rows } = await client.query('SELECT clock_timestamp() AS now');
    const now = rows[0].now as Date;
    const all = cases(now);
    for (const c of all) {
      const expected = blockingHold(c, { probe: c.probe }, now);
      const actual = await evaluateInSql(c);
      const label = JSON.stringify(c);
      // NULL (no Retry-After hold) counts as false where the predicate is used: in WHERE and EXISTS.
      expect(actual.blocked === true, label).toBe(expected !== null);
      if (expected) expect({ reason: actual.reason, until: actual.until }, label).toEqual(expected);
    }
    expect(all.length).toBe(72);
  });
});
