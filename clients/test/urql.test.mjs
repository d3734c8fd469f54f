// urql (@urql/core 5) against both targets (targets.mjs): over HTTP with
// fetchExchange, and over graphql-ws with subscriptionExchange (on
// PostgreSQL and Redis, HTTP goes to API process a and the WebSocket to b).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, fetchExchange, subscriptionExchange, gql } from '@urql/core';
import { forEachTarget } from '../targets.mjs';
import { recordingFetch, within, wsClient } from '../support.mjs';

// Promise rejections nobody handled, from anywhere in this process: each
// one fails the test that is running (and the file's last check).
const unhandled = [];
const onUnhandled = (reason) => unhandled.push(reason);
before(async () => {
  process.on('unhandledRejection', onUnhandled);
});
after(() => {
  process.off('unhandledRejection', onUnhandled);
});

function noUnhandledRejections() {
  assert.deepEqual(unhandled.map(String), [], 'unhandled promise rejections');
}

// A macrotask later: a rejection left unhandled has been reported by then.
const settle = () => new Promise((resolve) => setImmediate(resolve));

const CREATE = gql`
  mutation Create($in: CreateVideoJobInput!) { createVideoJob(input: $in) { job { id status version } } }
`;
const JOB = gql`
  query Job($id: ID!) { job(id: $id) { id status version } }
`;

function httpClient(vg, options = {}) {
  const fetch = recordingFetch();
  const client = new Client({
    url: vg.url,
    exchanges: [fetchExchange],
    fetch,
    fetchOptions: () => ({ headers: { authorization: vg.authorization } }),
    requestPolicy: 'network-only',
    ...options,
  });
  return { client, requests: fetch.requests };
}

forEachTarget((vg) => {
  test('HTTP: 10 rounds of mutation and query, JSON answers to the default Accept', async () => {
    const { client, requests } = httpClient(vg);
    for (let round = 0; round < 10; round++) {
      const created = await client.mutation(CREATE, {
        in: { workflowType: 'TEXT_TO_VIDEO', prompt: `a paper boat, round ${round} [sim latency=0s]` },
      }).toPromise();
      assert.equal(created.error, undefined, String(created.error));
      const { id } = created.data.createVideoJob.job;
      const read = await client.query(JOB, { id }).toPromise();
      assert.equal(read.error, undefined, String(read.error));
      assert.equal(read.data.job.id, id);
    }
    await settle();
    noUnhandledRejections();

    assert.deepEqual(requests.map((r) => `${r.method} ${r.operationName}`),
      Array(10).fill(['POST Create', 'POST Job']).flat());
    for (const r of requests) {
      // urql offers an event stream too; vidgate answers single results
      // with JSON.
      assert.match(r.accept, /text\/event-stream/, `urql's Accept: ${r.accept}`);
      assert.equal(r.status, 200);
      assert.match(r.contentType, /^application\/(graphql-response\+)?json\b/,
        `${r.operationName} was answered with ${r.contentType}`);
    }
  });

  test('HTTP: a query over GET (preferGetMethod) gets JSON for the default Accept', async () => {
    const { client, requests } = httpClient(vg, { preferGetMethod: 'within-url-limit' });
    const read = await client.query(gql`query Viewer { viewer { id } }`, {}).toPromise();
    assert.equal(read.error, undefined, String(read.error));
    assert.deepEqual(read.data.viewer, { id: 'conformance' });
    assert.deepEqual(requests.map((r) => [r.method, r.operationName, r.status]), [['GET', 'Viewer', 200]]);
    assert.match(requests[0].accept, /text\/event-stream/);
    assert.match(requests[0].contentType, /^application\/(graphql-response\+)?json\b/);
    await settle();
    noUnhandledRejections();
  });

  test('HTTP: a validation error is a CombinedError with graphQLErrors and its code', async () => {
    const { client, requests } = httpClient(vg);
    const result = await client.query(gql`query Bad { viewer { id nosuchfield } }`, {}).toPromise();
    assert.ok(result.error, 'an error');
    assert.equal(result.error.networkError, undefined, String(result.error.networkError));
    assert.equal(result.error.graphQLErrors[0]?.extensions?.code, 'GRAPHQL_VALIDATION_FAILED');
    // urql prefers application/graphql-response+json, where a request error
    // is 400; urql reads it as the GraphQL error it is.
    assert.deepEqual(requests.map((r) => [r.status, r.contentType.split(';')[0]]),
      [[400, 'application/graphql-response+json']]);
    await settle();
    noUnhandledRejections();
  });

  test('graphql-ws: a subscription follows a job to COMPLETED, and a query runs over the socket', async () => {
    const ws = wsClient(vg);
    const client = new Client({
      url: vg.url,
      exchanges: [
        subscriptionExchange({
          enableAllOperations: true,
          forwardSubscription: (request) => ({
            subscribe: (sink) => ({ unsubscribe: ws.subscribe(request, sink) }),
          }),
        }),
      ],
    });
    try {
      const created = await client.mutation(CREATE, {
        in: { workflowType: 'TEXT_TO_VIDEO', prompt: 'a kite over a beach [sim latency=1s]' },
      }).toPromise();
      assert.equal(created.error, undefined, String(created.error));
      const { id } = created.data.createVideoJob.job;

      const seen = [];
      let sub;
      const completed = new Promise((resolve, reject) => {
        sub = client.subscription(
          gql`subscription JobStatus($id: ID!) { jobStatus(id: $id) { id status version } }`, { id },
        ).subscribe((result) => {
          if (result.error) return reject(result.error);
          seen.push(result.data.jobStatus);
          if (result.data.jobStatus.status === 'COMPLETED') resolve();
        });
      });
      try {
        await within(completed, 30_000, () => JSON.stringify(seen));
      } finally {
        sub.unsubscribe();
      }
      const versions = seen.map((u) => u.version);
      assert.deepEqual(versions, [...versions].sort((a, b) => a - b), 'versions only grow');
      assert.equal(new Set(versions).size, versions.length, 'no version twice');

      const read = await client.query(JOB, { id }, { requestPolicy: 'network-only' }).toPromise();
      assert.equal(read.error, undefined, String(read.error));
      assert.equal(read.data.job.status, 'COMPLETED');
    } finally {
      await ws.dispose();
    }
    await settle();
    noUnhandledRejections();
  });
});
