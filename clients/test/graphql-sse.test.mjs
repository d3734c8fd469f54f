// The graphql-sse npm client against both targets (targets.mjs), in both
// of its modes: distinct connections (an event stream per operation) and
// single connection (PUT reserves a stream, GET opens it, POSTs run
// operations on it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-sse';
import { forEachTarget } from '../targets.mjs';

function client(vg, singleConnection) {
  // Distinct connections: each operation is a request of its own, so the
  // operations take turns over the API processes (on the cluster, the
  // subscription runs on another process than the mutation before it).
  // Single connection: the stream reserved by PUT is kept in the memory of
  // the API process that reserved it (reservations are not shared between
  // processes), so the PUT, the GET and every POST must reach that one
  // process. Behind a load balancer that spreads requests over processes
  // this mode needs sticky sessions; here the client is given one process.
  let turn = 0;
  const url = singleConnection ? vg.urls[0] : () => vg.urls[turn++ % vg.urls.length];
  return createClient({
    url,
    singleConnection,
    retryAttempts: 0,
    headers: { authorization: vg.authorization },
  });
}

// first returns the first result of an operation, then stops it.
async function first(c, request) {
  for await (const result of c.iterate(request)) {
    return result;
  }
  throw new Error('the operation completed without a result');
}

forEachTarget((vg) => {
  for (const singleConnection of [false, true]) {
    const mode = singleConnection ? 'single connection' : 'distinct connections';

    test(`${mode}: a query, a mutation and a subscription`, async () => {
      const c = client(vg, singleConnection);
      try {
        const viewer = await first(c, { query: '{ viewer { id role } }' });
        assert.deepEqual(viewer, { data: { viewer: { id: 'conformance', role: 'USER' } } });

        const created = await first(c, {
          query: 'mutation($in: CreateVideoJobInput!) { createVideoJob(input: $in) { job { id status } } }',
          variables: { in: { workflowType: 'TEXT_TO_VIDEO', prompt: `a lighthouse at dusk (${mode})` } },
        });
        assert.equal(created.errors, undefined, JSON.stringify(created.errors));
        const { id } = created.data.createVideoJob.job;

        // The subscription's first result is the job's current state.
        const status = await first(c, {
          query: 'subscription($id: ID!) { jobStatus(id: $id) { id status version } }',
          variables: { id },
        });
        assert.equal(status.data.jobStatus.id, id);
        assert.ok(status.data.jobStatus.version >= 1);
      } finally {
        c.dispose();
      }
    });

    test(`${mode}: a request error is a result with its code`, async () => {
      const c = client(vg, singleConnection);
      try {
        const result = await first(c, { query: '{ nosuchfield }' });
        // Nothing ran: no data entry.
        assert.ok(!('data' in result), JSON.stringify(result));
        assert.equal(result.errors?.[0]?.extensions?.code, 'GRAPHQL_VALIDATION_FAILED');
      } finally {
        c.dispose();
      }
    });
  }

  test('single connection: several operations share one stream', async () => {
    const c = client(vg, true);
    try {
      const results = await Promise.all(
        ['id', 'role', '__typename'].map((f) => first(c, { query: `{ viewer { ${f} } }` })),
      );
      assert.deepEqual(results.map((r) => Object.keys(r.data.viewer)), [['id'], ['role'], ['__typename']]);
    } finally {
      c.dispose();
    }
  });
});
