/**
 * Webhook subscriptions: create, list, read and delete, and a webhook's deliveries as operators
 * page through them. The fan-out, claims and outcomes of the delivery loop are in
 * webhook-deliveries.ts.
 *
 * A webhook's receiver is a dependent system with its own breaker, `webhook:<id>` in
 * circuit_breakers, created with the webhook and removed with it.
 */
import { type WebhookDeliveryStatus, webhookSystem } from '@switchyard/core';
import { ensureBreakerRow } from './breaker-state.ts';
import type { Queryable } from './pool.ts';

// Delivery statuses travel as parameters: they are not step or task statuses, which is what the
// status literals of this package's SQL are checked against (packages/db/test/state-sql.test.ts).
const FAILED = 'failed' satisfies WebhookDeliveryStatus;

/** A webhook as operators see it (never its secret, which is shown once at creation). */
export type WebhookView = {
  id: string;
  url: string;
  events: string[];
  namespaces: string[] | null;
  createdBy: string;
  createdAt: Date;
  deletedAt: Date | null;
};

const WEBHOOK_COLUMNS = `id, url, events, namespaces, created_by AS "createdBy", created_at AS "createdAt",
  deleted_at AS "deletedAt"`;

/**
 * Creates a webhook and its receiver's breaker row (default policy), so the breaker is listed
 * from the start. Run it in a transaction for both or neither.
 */
export async function createWebhook(
  db: Queryable,
  input: {
    url: string;
    events: readonly string[];
    namespaces: readonly string[] | null;
    secret: string;
    createdBy: string;
  },
): Promise<WebhookView> {
  const { rows } = await db.query(
    `INSERT INTO webhooks (url, events, namespaces, secret, created_by) VALUES ($1, $2, $3, $4, $5)
     RETURNING ${WEBHOOK_COLUMNS}`,
    [input.url, input.events, input.namespaces, input.secret, input.createdBy],
  );
  await ensureBreakerRow(db, webhookSystem(rows[0].id), 'webhook');
  return rows[0];
}

/** Webhooks not deleted, oldest first. */
export async function listWebhooks(db: Queryable): Promise<WebhookView[]> {
  const { rows } = await db.query(
    `SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id`,
  );
  return rows;
}

/** One webhook (a deleted one too, with its deletion time), or null. */
export async function getWebhook(db: Queryable, id: string): Promise<WebhookView | null> {
  const { rows } = await db.query(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/**
 * Deletes a webhook: nothing more is fanned out or attempted for it, its pending deliveries end
 * as failed ("webhook deleted"), its breaker row goes (its transitions stay in the log); the
 * deliveries and their attempts stay for the history. Returns false for an unknown or already
 * deleted webhook. Run it in a transaction.
 */
export async function deleteWebhook(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE webhooks SET deleted_at = clock_timestamp() WHERE id = $1 AND deleted_at IS NULL`,
    [id],
  );
  if (rowCount !== 1) return false;
  await db.query(
    `UPDATE webhook_deliveries
        SET status = $2, last_error = 'webhook deleted', held = false, probe = false,
            claimed_by = NULL, lease_expires_at = NULL, updated_at = clock_timestamp()
      WHERE webhook_id = $1 AND status = 'pending'`,
    [id, FAILED],
  );
  await db.query('DELETE FROM circuit_breakers WHERE dependent_system = $1', [webhookSystem(id)]);
  return true;
}

/** One delivery as operators see it. */
export type WebhookDeliveryView = {
  id: string;
  eventId: string;
  type: string;
  taskId: string | null;
  status: WebhookDeliveryStatus;
  attempts: number;
  held: boolean;
  nextAttemptAt: Date | null;
  lastHttpStatus: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
};

/** A webhook's deliveries, newest first; pass `nextCursor` back as `before` for the next page. */
export async function listWebhookDeliveries(
  db: Queryable,
  webhookId: string,
  page: { limit: number; before?: string | null },
): Promise<{ deliveries: WebhookDeliveryView[]; nextCursor: string | null }> {
  const { rows } = await db.query(
    `SELECT id::text, event_id AS "eventId", type, task_id AS "taskId", status, attempts, held,
            CASE WHEN status = 'pending' THEN next_attempt_at END AS "nextAttemptAt",
            last_http_status AS "lastHttpStatus", last_error AS "lastError", created_at AS "createdAt",
            delivered_at AS "deliveredAt"
       FROM webhook_deliveries
      WHERE webhook_id = $1 AND ($2::bigint IS NULL OR id < $2)
      ORDER BY id DESC LIMIT $3`,
    [webhookId, page.before ?? null, page.limit + 1],
  );
  const deliveries = rows.slice(0, page.limit);
  return {
    deliveries,
    nextCursor: rows.length > page.limit ? (deliveries.at(-1)?.id ?? null) : null,
  };
}
