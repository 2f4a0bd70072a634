import { describe, expect, it } from 'vitest';
import { readEventStream } from './task-events.ts';

function body(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

describe('readEventStream', () => {
  it('reads the id and type of each event, across chunks, skipping heartbeats', async () => {
    const text =
      ': keep-alive\n\nid: 5.1\nevent: step.failed\ndata: {"a":1}\n\n: keep-alive\r\n\r\nid: 5.2\r\nevent: task.failed\r\ndata: {}\r\n\r\n';
    for (let split = 1; split < text.length; split++) {
      const events = [];
      for await (const event of readEventStream(body([text.slice(0, split), text.slice(split)])))
        events.push(event);
      expect(events).toEqual([
        { id: '5.1', type: 'step.failed' },
        { id: '5.2', type: 'task.failed' },
      ]);
    }
  });
});
