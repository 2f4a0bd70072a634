import { describe, expect, it } from 'vitest';
import { parseSse } from './event-stream.ts';

async function parse(chunks: string[]) {
  const encoder = new TextEncoder();
  const source = (async function* () {
    for (const chunk of chunks) yield encoder.encode(chunk);
  })();
  const messages = [];
  for await (const message of parseSse(source)) messages.push(message);
  return messages;
}

describe('parseSse', () => {
  it('reads messages split anywhere across chunks, with any line ending', async () => {
    const text =
      'id: 1.1\r\nevent: task.completed\r\ndata: {"a":1}\r\n\r\n: keep-alive\n\nid: 1.2\rdata: x\rdata: y\r\r';
    const expected = [
      { id: '1.1', event: 'task.completed', data: '{"a":1}' },
      { id: '1.2', event: 'message', data: 'x\ny' },
    ];
    expect(await parse([text])).toEqual(expected);
    // Every split point, the \r\n pairs included.
    for (let i = 1; i < text.length; i++)
      expect(await parse([text.slice(0, i), text.slice(i)])).toEqual(expected);
  });

  it('skips comments and messages without data, keeps the last id, and drops an unfinished message', async () => {
    expect(await parse([': hello\n\nevent: x\n\nid: 7\n\ndata:no-space\n\ndata: cut'])).toEqual([
      { id: '7', event: 'message', data: 'no-space' },
    ]);
  });
});
