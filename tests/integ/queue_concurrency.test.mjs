// queue_concurrency.test.mjs: many producers and consumers on one queue.
// 4 producers put 2000 distinct messages while 4 consumers get (batches of
// 1..32, overlapping) and delete them. Every message must be received
// exactly once (a long visibility timeout makes any second delivery a
// bug: overlapping Gets must never hand out the same message) and deleted
// exactly once, with its content intact; the queue ends empty.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { QueueServiceClient } from '@azure/storage-queue';
import { startServer } from './lib/server.mjs';

const PRODUCERS = 4;
const CONSUMERS = 4;
const TOTAL = 2000;

let srv;
let failed = false;

before(async () => {
  srv = await startServer({ name: 'queue-conc' });
});

after(async () => {
  if (failed) console.log(srv.log());
  await srv.stop();
});

function body(p, i) {
  const tag = `p${p}-m${i}`;
  const pad = crypto.createHash('sha256').update(tag).digest('hex');
  return `${tag}|${pad}`;
}

test(`${PRODUCERS} producers x ${CONSUMERS} consumers move ${TOTAL} messages exactly once`, async () => {
  try {
    const svc = QueueServiceClient.fromConnectionString(srv.connStr);
    const q = svc.getQueueClient('conc');
    await q.create();
    const per = TOTAL / PRODUCERS;
    const sentIds = new Map();
    let producing = PRODUCERS;

    const producers = Array.from({ length: PRODUCERS }, async (_, p) => {
      const client = QueueServiceClient.fromConnectionString(srv.connStr).getQueueClient('conc');
      for (let i = 0; i < per; i++) {
        const text = body(p, i);
        const r = await client.sendMessage(text);
        assert.ok(!sentIds.has(r.messageId), 'message ids are unique');
        sentIds.set(r.messageId, text);
      }
      producing--;
    });

    const received = new Map(); // text -> count
    let deleted = 0;
    const deadline = Date.now() + 120000;
    const consumers = Array.from({ length: CONSUMERS }, async (_, c) => {
      const client = QueueServiceClient.fromConnectionString(srv.connStr).getQueueClient('conc');
      let n = 1 + c * 7;
      while (deleted < TOTAL) {
        assert.ok(Date.now() < deadline, `deadline: ${deleted} of ${TOTAL} deleted`);
        n = (n % 32) + 1;
        const got = (await client.receiveMessages({ numberOfMessages: n, visibilityTimeout: 300 }))
          .receivedMessageItems;
        if (!got.length) {
          if (producing === 0 && deleted >= TOTAL) break;
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        for (const m of got) {
          received.set(m.messageText, (received.get(m.messageText) || 0) + 1);
          assert.equal(m.dequeueCount, 1, `redelivered ${m.messageText}`);
          assert.equal(sentIds.get(m.messageId) ?? m.messageText, m.messageText);
        }
        await Promise.all(got.map(async (m) => {
          const r = await client.deleteMessage(m.messageId, m.popReceipt);
          assert.equal(r._response.status, 204);
          deleted++;
        }));
      }
    });

    await Promise.all([...producers, ...consumers]);
    assert.equal(sentIds.size, TOTAL);
    assert.equal(deleted, TOTAL);
    assert.equal(received.size, TOTAL);
    for (let p = 0; p < PRODUCERS; p++) {
      for (let i = 0; i < per; i++) assert.equal(received.get(body(p, i)), 1, body(p, i));
    }
    for (const [id, text] of sentIds) assert.ok(received.has(text), id);
    const props = await q.getProperties();
    assert.equal(props.approximateMessagesCount, 0);
    assert.equal((await q.receiveMessages({ numberOfMessages: 32 })).receivedMessageItems.length, 0);
  } catch (e) {
    failed = true;
    throw e;
  }
});
