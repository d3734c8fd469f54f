// Apollo Client 3 against both targets (targets.mjs): a split link
// (HttpLink for queries and mutations, GraphQLWsLink over graphql-ws for
// subscriptions) and InMemoryCache; and apollo-upload-client's link for
// uploads. On PostgreSQL and Redis, queries and mutations go to API process
// a and subscriptions to b, so the cache follows changes made elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gql } from '@apollo/client/core/index.js';
import createUploadLink from 'apollo-upload-client/createUploadLink.mjs';
import { forEachTarget } from '../targets.mjs';
import { apollo, cacheFollowsSubscription, validationErrorIsGraphQLError, CREATE } from '../apollo.mjs';
import { recordingFetch } from '../support.mjs';
import { png } from '../png.mjs';

forEachTarget((vg) => {
  test('a subscription selecting the job updates a watched query through the cache', async () => {
    await cacheFollowsSubscription(vg, 'a lighthouse at dusk [sim latency=2s]');
  });

  test('a validation error is graphQLErrors with its code, not a network error', async () => {
    await validationErrorIsGraphQLError(vg);
  });

  test('apollo-upload-client: upload a PNG, then make an IMAGE_TO_VIDEO job of it', async () => {
    await uploadThenImageToVideo(vg);
  });
});

async function uploadThenImageToVideo(vg) {
  const fetch = recordingFetch();
  const { client, dispose } = apollo(vg, {
    httpLink: createUploadLink({ uri: vg.url, headers: { authorization: vg.authorization }, fetch }),
  });
  try {
    const file = new File([png(96, 64)], 'product.png', { type: 'image/png' });
    const uploaded = await client.mutate({
      mutation: gql`
        mutation Upload($f: Upload!) { uploadSourceAsset(file: $f) { id mimeType width height expiresAt } }
      `,
      variables: { f: file },
    });
    const asset = uploaded.data.uploadSourceAsset;
    assert.equal(asset.mimeType, 'image/png');
    assert.deepEqual([asset.width, asset.height], [96, 64]);
    assert.ok(asset.expiresAt, 'an unused upload expires');
    // It went as a GraphQL multipart request, not as JSON.
    assert.equal(fetch.requests.length, 1);
    assert.equal(fetch.requests[0].status, 200);

    const created = await client.mutate({
      mutation: CREATE,
      variables: { in: { workflowType: 'IMAGE_TO_VIDEO', sourceAssetId: asset.id, prompt: 'the product turning slowly on a table' } },
    });
    const { job } = created.data.createVideoJob;
    assert.equal(job.status, 'QUEUED');

    const read = await client.query({
      query: gql`query Source($id: ID!) { job(id: $id) { id workflowType sourceAssetId } }`,
      variables: { id: job.id },
    });
    assert.deepEqual(
      { workflowType: read.data.job.workflowType, sourceAssetId: read.data.job.sourceAssetId },
      { workflowType: 'IMAGE_TO_VIDEO', sourceAssetId: asset.id },
    );
  } finally {
    await dispose();
  }
}
