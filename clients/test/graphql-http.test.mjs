// The graphql-http project's server audits of the GraphQL-over-HTTP spec,
// against both targets (targets.mjs). Every audit must pass: a SHOULD or
// MUST that fails (a warning or an error) fails the test, and so does a MAY
// that vidgate does not meet, since vidgate chooses to meet them all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAudits } from 'graphql-http';
import { forEachTarget } from '../targets.mjs';

forEachTarget((vg) => {
  // The target is started after the tests are declared: read it late.
  const audits = serverAudits({
    url: () => vg.url,
    fetchFn: (input, init) => vg.fetch(input, init),
  });
  for (const audit of audits) {
    test(`${audit.id} ${audit.name}`, () => runAudit(audit));
  }
});

async function runAudit(audit) {
  const result = await audit.fn();
  if (result.status !== 'ok') {
    let detail = result.reason;
    if (result.response) {
      detail += `\n  got ${result.response.status} ${result.response.headers.get('content-type')}: ${await result.response.text()}`;
    }
    assert.fail(`${result.status}: ${detail}`);
  }
}
