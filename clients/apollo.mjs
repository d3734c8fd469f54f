// Apollo Client 3 as SPAs set it up for vidgate, and the checks the test
// files run with it against any vidgate (the embedded default, or a
// deployment on PostgreSQL and Redis).
import assert from 'node:assert/strict';
import { ApolloClient, HttpLink, InMemoryCache, split, gql } from '@apollo/client/core/index.js';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions/index.js';
import { getMainDefinition } from '@apollo/client/utilities/index.js';
import { recordingFetch, within, wsClient } from './support.mjs';

// apollo makes a client with the usual split link: subscriptions over
// graphql-ws, everything else over HTTP. httpLink replaces the HttpLink
// (an upload link, say).
export function apollo(target, { httpLink } = {}) {
  const fetch = recordingFetch();
  const ws = wsClient(target);
  const link = split(
    ({ query }) => {
      const def = getMainDefinition(query);
      return def.kind === 'OperationDefinition' && def.operation === 'subscription';
    },
    new GraphQLWsLink(ws),
    httpLink ?? new HttpLink({ uri: target.url, headers: { authorization: target.authorization }, fetch }),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  return {
    client,
    requests: fetch.requests,
    async dispose() {
      client.stop();
      await ws.dispose();
    },
  };
}

export const CREATE = gql`
  mutation Create($in: CreateVideoJobInput!) {
    createVideoJob(input: $in) { job { id status version } }
  }
`;

const JOB = gql`
  query Job($id: ID!) { job(id: $id) { id status statusCopy version } }
`;

const JOB_STATUS = gql`
  subscription JobStatus($id: ID!) {
    jobStatus(id: $id) { version job { id status statusCopy version } }
  }
`;

// cacheFollowsSubscription creates a job, watches job(id) and subscribes to
// jobStatus(id) selecting the job: the watched query must reach COMPLETED
// from what the subscription writes into the normalized cache, with job(id)
// fetched once.
export async function cacheFollowsSubscription(target, prompt) {
  const { client, requests, dispose } = apollo(target);
  try {
    const created = await client.mutate({
      mutation: CREATE,
      variables: { in: { workflowType: 'TEXT_TO_VIDEO', prompt } },
    });
    const { id } = created.data.createVideoJob.job;

    const seen = [];
    let watching;
    const completed = new Promise((resolve, reject) => {
      watching = client.watchQuery({ query: JOB, variables: { id } }).subscribe({
        next: ({ data }) => {
          if (!data?.job) return;
          seen.push(`${data.job.status}@${data.job.version}`);
          if (data.job.status === 'COMPLETED') resolve(data.job);
        },
        error: reject,
      });
    });
    const updates = [];
    let subscriptionError;
    const subscription = client.subscribe({ query: JOB_STATUS, variables: { id } }).subscribe({
      next: ({ data, errors }) => {
        if (errors) subscriptionError = errors;
        updates.push(data?.jobStatus?.version);
      },
      error: (err) => {
        subscriptionError = err;
      },
    });
    try {
      const job = await within(completed, 45_000,
        () => `the watched query saw ${seen.join(', ')}; the subscription sent versions ${updates.join(', ')}` +
          (subscriptionError ? `; its error: ${subscriptionError}` : ''));
      assert.equal(job.statusCopy, 'Ready for review');
    } finally {
      watching.unsubscribe();
      subscription.unsubscribe();
    }
    assert.equal(subscriptionError, undefined);
    const jobFetches = requests.filter((r) => r.operationName === 'Job');
    assert.equal(jobFetches.length, 1, 'job(id) is fetched once; every later state came through the cache');
    assert.ok(seen.length >= 2, `the watched query changed: ${seen.join(', ')}`);
    assert.ok(updates.length >= 2, `the subscription sent the current state and changes: ${updates.join(', ')}`);
    return id;
  } finally {
    await dispose();
  }
}

// validationErrorIsGraphQLError sends a document that does not validate:
// Apollo Client must report it as graphQLErrors with its code, not as a
// network error.
export async function validationErrorIsGraphQLError(target) {
  const { client, requests, dispose } = apollo(target);
  try {
    await assert.rejects(
      client.query({ query: gql`query Bad { viewer { id nosuchfield } }`, fetchPolicy: 'network-only' }),
      (err) => {
        assert.equal(err.networkError, null, `a network error: ${err.networkError}`);
        assert.equal(err.graphQLErrors.length, 1, JSON.stringify(err.graphQLErrors));
        assert.equal(err.graphQLErrors[0].extensions?.code, 'GRAPHQL_VALIDATION_FAILED');
        assert.match(err.graphQLErrors[0].message, /nosuchfield/);
        return true;
      },
    );
    assert.deepEqual(requests.map((r) => [r.operationName, r.status, r.contentType?.split(';')[0]]),
      [['Bad', 200, 'application/json']]);
  } finally {
    await dispose();
  }
}
