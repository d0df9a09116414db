// crash_queue.test.mjs: SIGKILL shoald in the middle of queue traffic and
// check what survives. Producers put, consumers get (1 s visibility) and
// delete, all concurrently; once enough is acknowledged the daemon is
// killed with requests in flight and restarted on the same data dir.
// Afterwards:
//   - every put that got 201 and was never deleted is there
//     (messages taken by a Get before the crash come back: at-least-once);
//   - no delete that got 204 is undone;
//   - nothing else appears (only puts we attempted, each at most once).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QueueServiceClient } from '@azure/storage-queue';
import { startServer, waitFor } from './lib/server.mjs';

let srv;
let failed = false;

before(async () => {
  srv = await startServer({ name: 'crash-queue' });
});

after(async () => {
  if (failed) console.log(srv.log());
  await srv.stop();
});

const opts = { retryOptions: { maxTries: 1 } };

function client() {
  return QueueServiceClient.fromConnectionString(srv.connStr, opts).getQueueClient('crash');
}

test('SIGKILL during puts, gets and deletes loses nothing acknowledged', async () => {
  try {
    await client().create();
    const acked = new Set();      // texts whose put got 201
    const attempted = new Set();  // every text we tried to put
    const deleteTried = new Set(); // texts whose delete was sent
    const deletedAcked = new Set(); // texts whose delete got 204
    let killed = false;
    let seq = 0;

    const producers = Array.from({ length: 4 }, async (_, p) => {
      const q = client();
      while (!killed) {
        const text = `p${p}-${seq++}`;
        attempted.add(text);
        try {
          await q.sendMessage(text);
          acked.add(text); // a 201 is a 201, whenever it arrives
        } catch (e) {
          if (!killed) throw e;
        }
      }
    });
    const consumers = Array.from({ length: 2 }, async () => {
      const q = client();
      while (!killed) {
        try {
          const got = (await q.receiveMessages({ numberOfMessages: 8, visibilityTimeout: 1 }))
            .receivedMessageItems;
          for (const m of got) {
            deleteTried.add(m.messageText);
            await q.deleteMessage(m.messageId, m.popReceipt);
            deletedAcked.add(m.messageText);
          }
        } catch (e) {
          if (!killed) throw e;
        }
      }
    });

    await waitFor(() => acked.size >= 400 && deletedAcked.size >= 100,
      { timeoutMs: 60000, what: 'traffic before the kill' });
    killed = true;
    await srv.restartAfterKill();
    await Promise.all([...producers, ...consumers]);

    const q = client();
    const total = (await q.getProperties()).approximateMessagesCount;
    const present = new Map();
    // Messages taken by a Get before the kill come back within 1 s.
    await waitFor(async () => {
      const got = (await q.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 300 }))
        .receivedMessageItems;
      for (const m of got) present.set(m.messageText, (present.get(m.messageText) || 0) + 1);
      return present.size >= total;
    }, { timeoutMs: 30000, intervalMs: 50, what: `draining ${total} messages` });

    assert.equal(present.size, total);
    for (const [text, n] of present) {
      assert.equal(n, 1, `${text} delivered twice after restart`);
      assert.ok(attempted.has(text), `${text} was never put`);
      assert.ok(!deletedAcked.has(text), `${text} was deleted (204) yet came back`);
    }
    let lost = 0;
    for (const text of acked) {
      // a delete in flight at the kill may have committed unanswered
      if (!deleteTried.has(text) && !present.has(text)) lost++;
    }
    assert.equal(lost, 0, `${lost} acknowledged messages lost`);
    assert.ok(acked.size >= 400);
  } catch (e) {
    failed = true;
    throw e;
  }
});
