// The graphql-ws reconnect, on vidgate on PostgreSQL and Redis only: two API
// processes (a and b) and a worker, started by the test (vidgate.mjs
// startCluster), and a is stopped, so this file has a cluster of its own
// (every other client case runs on both targets, see targets.mjs). Skipped
// without VIDGATE_TEST_DATABASE_URL and VIDGATE_TEST_REDIS_URL; under
// CI=true their absence fails instead.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, clusterSkipReason } from '../vidgate.mjs';
import { within, wsClient } from '../support.mjs';
import { failoverProxy } from '../proxy.mjs';

const skip = clusterSkipReason();
if (skip && process.env.CI === 'true') {
  test('CI runs the client tests on PostgreSQL and Redis', () => {
    assert.fail(`CI must set the variables: ${skip}`);
  });
}

let c;
before(async () => {
  if (!skip) c = await startCluster();
});
after(async () => {
  await c?.stop();
});

async function graphql(url, query, variables) {
  const res = await c.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

const create = (url, prompt) => graphql(url,
  'mutation($in: CreateVideoJobInput!) { createVideoJob(input: $in) { job { id } } }',
  { in: { workflowType: 'TEXT_TO_VIDEO', prompt } }).then((d) => d.createVideoJob.job.id);

test('graphql-ws: a subscription carries on through another API process when its own gets SIGTERM', { skip }, async () => {
  const backend = (api) => {
    const u = new URL(api.base);
    return { name: api.name, host: u.hostname, port: Number(u.port) };
  };
  const proxy = await failoverProxy([backend(c.a), backend(c.b)]);
  const closes = [];
  const retried = [];
  const ws = wsClient({ wsUrl: `ws://${proxy.addr}/graphql`, authorization: c.authorization }, {
    retryAttempts: 5,
    retryWait: (n) => new Promise((resolve) => setTimeout(resolve, 100 * 2 ** n)),
    // Reconnect when the server goes away (1001) or cannot be reached;
    // anything else (4401: a fresh token is needed) is an error.
    shouldRetry: (e) => {
      retried.push(e?.code ?? String(e));
      return e?.code === 1001 || e?.code === 1006 || !('code' in Object(e));
    },
    on: { closed: (e) => closes.push(e?.code) },
  });
  try {
    const id = await create(c.b.url, 'a glacier calving into the sea [sim latency=6s]');
    const events = []; // 'next STATUS@version', 'error …', 'complete'
    let processingOnA, completed;
    const processing = new Promise((resolve) => (processingOnA = resolve));
    const done = new Promise((resolve, reject) => (completed = { resolve, reject }));
    done.catch(() => {}); // awaited below, after a's stop: an early failure waits for it there
    const unsubscribe = ws.subscribe(
      { query: 'subscription($id: ID!) { jobStatus(id: $id) { status version } }', variables: { id } },
      {
        next: ({ data, errors }) => {
          if (errors) {
            events.push(`errors ${JSON.stringify(errors)}`);
            return;
          }
          const { status, version } = data.jobStatus;
          events.push(`next ${status}@${version}`);
          if (status === 'PROCESSING') processingOnA();
          if (status === 'COMPLETED') completed.resolve();
        },
        error: (err) => {
          events.push(`error ${err?.code ?? err}`);
          completed.reject(new Error(`the subscription failed: ${err?.code ?? ''} ${err?.reason ?? err}`));
        },
        complete: () => {
          events.push('complete');
          completed.reject(new Error(`complete before COMPLETED: ${events.join(', ')}`));
        },
      },
    );
    try {
      // The job is being generated, and its updates reach us through a.
      await within(processing, 30_000, () => events.join(', '));
      assert.deepEqual(proxy.connections, ['api-a']);

      assert.equal(await c.a.proc.stop('SIGTERM'), 0, `a's exit:\n${c.a.proc.stderr}`);
      const { job } = await graphql(c.b.url, 'query($id: ID!) { job(id: $id) { status } }', { id });
      assert.notEqual(job.status, 'COMPLETED', 'a stopped while the job was still being generated');

      await within(done, 30_000, () => `${events.join(', ')}; closes ${closes}; connections ${proxy.connections}`);
    } finally {
      unsubscribe();
    }
    assert.ok(!events.includes('complete'), events.join(', '));
    assert.equal(closes[0], 1001, `a closed the socket with ${closes[0]}`);
    assert.equal(proxy.connections.at(-1), 'api-b', `connections: ${proxy.connections}`);
    const versions = events.map((e) => Number(e.split('@')[1]));
    assert.deepEqual(versions, [...versions].sort((x, y) => x - y), `versions never go back: ${events}`);
  } finally {
    await ws.dispose();
    await proxy.close();
  }
});
