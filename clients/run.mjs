// `npm test`: builds vidgate once into a temporary directory, then runs
// `node --test` (with any arguments given, e.g. a test file) with
// VIDGATE_BIN naming the binary, so that every test file starts that binary
// instead of building its own.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildVidgate } from './vidgate.mjs';

const dir = await mkdtemp(join(tmpdir(), 'vidgate-clients-bin-'));
let code = 1;
try {
  const started = Date.now();
  const bin = await buildVidgate(dir);
  console.log(`built ${bin} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // Each test file runs in a process of its own and spends most of its time
  // waiting on vidgate, so run them all at once.
  const args = ['--test', '--test-concurrency=8', ...process.argv.slice(2)];
  const child = spawn(process.execPath, args, { stdio: 'inherit', env: { ...process.env, VIDGATE_BIN: bin } });
  // Pass a stop on to the tests, so that they end the vidgates they run.
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  code = await new Promise((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
} finally {
  await rm(dir, { recursive: true, force: true });
}
process.exit(code);
