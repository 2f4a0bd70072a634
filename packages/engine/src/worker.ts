import { hostname } from 'node:os';
import { recordWorkerHeartbeat, recordWorkerStopped } from '@switchyard/db';
import { cancellationChannel, StepConsumer, StepDispatcher } from '@switchyard/queue';
import { StepRunner } from './step-runner.ts';
import { registerTemplates } from './templates.ts';
import { compileWorkerOptions, type WorkerOptions } from './worker-options.ts';

export type RunningWorker = {
  readonly workerId: string;
  /** The step types this worker consumes. */
  readonly stepTypes: readonly string[];
  /** Attempts running right now. */
  inFlightCount(): number;
  /**
   * Stops taking jobs and starting local continuations (a finished step's children are
   * dispatched instead), and lets running attempts finish for up to `graceMs` (default: the
   * worker's `shutdownGraceMs`); attempts still running then are aborted and handed back so
   * another worker takes them at once.
   */
  stop(graceMs?: number): Promise<void>;
};

/**
 * Starts a worker in this process with the user's handlers: registers the given templates,
 * consumes the queues of its step types and records that it is alive. Handlers live in the
 * user's own code; this is the runtime they import.
 */
export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const compiled = compileWorkerOptions(options);
  const { pool, workerId, logger } = compiled;
  const log = logger.child({ component: 'worker', worker_id: workerId });
  await registerTemplates(pool, compiled.templates);
  const dispatcher = new StepDispatcher({
    connection: compiled.redis,
    prefix: compiled.queuePrefix,
    namespaceWeights: compiled.namespaceWeights,
  });
  const runner = new StepRunner(compiled, dispatcher);
  const registration = {
    id: workerId,
    hostname: hostname(),
    pid: process.pid,
    handlers: compiled.stepTypes,
    concurrency: compiled.concurrency,
  };
  await recordWorkerHeartbeat(pool, registration);
  const heartbeat = setInterval(() => {
    recordWorkerHeartbeat(pool, registration).catch((err) => log.warn({ err }, 'heartbeat failed'));
  }, compiled.heartbeatMs);
  heartbeat.unref();
  const consumer = new StepConsumer({
    connection: compiled.redis,
    prefix: compiled.queuePrefix,
    handlers: compiled.stepTypes,
    concurrency: compiled.concurrency,
    process: (job, token) => runner.process(job, token),
    onError: (err, handler) => log.error({ err, handler }, 'queue consumer error'),
  });
  const cancellations = compiled.redis.duplicate();
  // Once per outage, not once per reconnect attempt (ioredis prints those to stderr when nobody listens).
  let cancellationsDown = false;
  cancellations.on('error', (err: Error) => {
    if (!cancellationsDown) log.warn({ err }, 'cancellation channel: Redis is unavailable');
    cancellationsDown = true;
  });
  cancellations.on('ready', () => {
    cancellationsDown = false;
  });
  cancellations.on('message', (_channel: string, message: string) => {
    const { taskId } = JSON.parse(message) as { taskId: string };
    runner.abortTask(taskId);
  });
  await cancellations.subscribe(cancellationChannel(compiled.queuePrefix));
  await consumer.waitUntilReady();
  log.info({ step_types: compiled.stepTypes, concurrency: compiled.concurrency }, 'worker started');
  return {
    workerId,
    stepTypes: compiled.stepTypes,
    inFlightCount: () => runner.inFlight.size,
    async stop(graceMs = compiled.shutdownGraceMs) {
      clearInterval(heartbeat);
      // Before the consumer stops: a step finishing from now on leaves its children to the queue.
      runner.stopContinuing();
      // Deliveries end with their handlers; recordings and local continuations go on after.
      const closing = consumer.close().then(() => runner.whenFinished());
      let deadline: NodeJS.Timeout | undefined;
      const expired = new Promise<boolean>((resolve) => {
        deadline = setTimeout(() => resolve(true), graceMs);
      });
      if ((await Promise.race([closing.then(() => false), expired])) && runner.inFlight.size > 0) {
        log.warn({ running: runner.inFlight.size }, 'shutdown deadline passed; handing running steps back');
        runner.abortAll(`worker ${workerId} shut down`);
      }
      clearTimeout(deadline);
      await closing;
      cancellations.disconnect();
      await dispatcher.close();
      await recordWorkerStopped(pool, workerId).catch((err) => log.warn({ err }, 'could not record stop'));
      log.info('worker stopped');
    },
  };
}
