// forEachTarget runs a test file's cases against both vidgates the suite
// knows: the embedded default, and a deployment on PostgreSQL and Redis
// (two API processes and a worker, vidgate.mjs startCluster). Each target
// is a suite of its own, started once for the file and stopped after it.
//
// define(target, name) declares the cases; target is filled in before they
// run with:
//   url, wsUrl      the GraphQL endpoint over HTTP and over WebSocket
//   urls            every API process's GraphQL endpoint over HTTP
//   base            url without /graphql
//   token, authorization ('Bearer …'), fetch (sends it)
// On the cluster, url is API process a's and wsUrl is b's, so that a client
// that splits HTTP from WebSocket (Apollo, urql) sees its subscriptions
// carry changes made through another process.
//
// The cluster suite is skipped without VIDGATE_TEST_DATABASE_URL and
// VIDGATE_TEST_REDIS_URL; under CI=true their absence fails instead.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startVidgate, startCluster, clusterSkipReason } from './vidgate.mjs';

function clusterTarget(c) {
  return {
    url: c.a.url,
    wsUrl: c.b.wsUrl,
    urls: [c.a.url, c.b.url],
    base: c.a.base,
    token: c.token,
    authorization: c.authorization,
    fetch: c.fetch,
    stop: c.stop,
  };
}

async function embeddedTarget() {
  const vg = await startVidgate();
  return { ...vg, urls: [vg.url] };
}

const targets = [
  { name: 'embedded default', skip: () => undefined, start: embeddedTarget },
  { name: 'PostgreSQL + Redis', skip: clusterSkipReason, start: async () => clusterTarget(await startCluster()) },
];

export function forEachTarget(define) {
  const skip = clusterSkipReason();
  if (skip && process.env.CI === 'true') {
    test('CI runs the client tests on PostgreSQL and Redis', () => {
      assert.fail(`CI must set the variables: ${skip}`);
    });
  }
  for (const t of targets) {
    const reason = t.skip();
    describe(t.name, { skip: reason }, () => {
      const target = {};
      before(async () => {
        if (!reason) Object.assign(target, await t.start());
      });
      after(async () => {
        await target.stop?.();
      });
      define(target, t.name);
    });
  }
}
