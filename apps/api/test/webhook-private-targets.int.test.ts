import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, createApiHarness } from './harness.ts';

// The server's default: SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS not set.
let h: ApiHarness;
beforeAll(async () => {
  h = await createApiHarness();
});
afterAll(() => h.close());

async function refusal(url: string) {
  const response = await h.call('POST', '/v1/webhooks', { body: { url, events: ['task.completed'] } });
  expect(response.status, url).toBe(400);
  return response.body.errors as { path: string; rule: string; message: string }[];
}

describe('webhook URLs reach public addresses only, unless the server allows private ones', () => {
  it('refuses loopback, private and link-local hosts, literal or resolved, naming the rule and the setting', async () => {
    const before = (await h.pool.query('SELECT count(*)::int AS n FROM webhooks')).rows[0].n;
    expect(await refusal('http://127.0.0.1:9/hooks')).toEqual([
      {
        path: '/url',
        rule: 'public_host',
        message:
          '127.0.0.1 is a loopback 127.0.0.0/8 address: webhooks reach public addresses only, unless SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS=true',
      },
    ]);
    for (const url of [
      'http://localhost:9/hooks',
      'http://[::1]:9/hooks',
      'http://10.0.0.5/hooks',
      'https://192.168.1.20/hooks',
      'http://169.254.169.254/latest/meta-data',
      'http://[fd00::5]/hooks',
      'http://[::ffff:127.0.0.1]/hooks',
      'http://0.0.0.0:9/hooks',
    ]) {
      expect(
        (await refusal(url)).map((e) => `${e.path} ${e.rule}`),
        url,
      ).toEqual(['/url public_host']);
    }
    expect((await refusal('http://localhost:9/hooks'))[0]!.message).toMatch(
      /^localhost \((127\.0\.0\.1|::1)\) is a loopback .* unless SWITCHYARD_WEBHOOK_ALLOW_PRIVATE_TARGETS=true$/,
    );
    expect((await h.pool.query('SELECT count(*)::int AS n FROM webhooks')).rows[0].n).toBe(before);
  });
});
