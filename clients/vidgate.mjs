// Runs vidgate for the tests, from a binary built once per run (run.mjs
// builds it and passes its path in VIDGATE_BIN; a test file run on its own
// builds one for its process).
//
// startVidgate starts the embedded default on a free loopback port with a
// temporary --data-dir. startCluster starts a deployment on PostgreSQL and
// Redis: two API processes (`vidgate serve`) and a worker, in a schema and
// under a Redis key prefix of their own. Both give the tests URLs, a bearer
// token (from `vidgate token`) and a fetch that sends it; stop() ends the
// processes they started and removes what they made.
import { spawn, execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

const startTimeoutMs = 60_000;

// buildVidgate builds cmd/vidgate into dir and returns the binary's path.
export async function buildVidgate(dir) {
  const bin = join(dir, 'vidgate');
  await promisify(execFile)('go', ['build', '-o', bin, './cmd/vidgate'], { cwd: repo, maxBuffer: 16 << 20 });
  return bin;
}

let binary;
function vidgateBinary() {
  if (process.env.VIDGATE_BIN) return Promise.resolve(process.env.VIDGATE_BIN);
  binary ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vidgate-clients-bin-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return buildVidgate(dir);
  })();
  return binary;
}

// Every process started here, so that none outlives the test process,
// whether it ends or is stopped by a signal.
const running = new Set();
const killAll = () => {
  for (const p of running) {
    try {
      p.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
};
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal);
  });
}

// start runs the vidgate binary with args and env (added to this process's
// environment). Its stderr is kept (the last 16 KB) for error messages.
export async function start(name, args, env = {}) {
  const bin = await vidgateBinary();
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    running.delete(child);
    resolve(code ?? signal);
  }));
  const p = { name, child, exited, stdout: '', stderr: '' };
  child.stdout.on('data', (b) => {
    p.stdout = (p.stdout + b).slice(-16384);
  });
  child.stderr.on('data', (b) => {
    p.stderr = (p.stderr + b).slice(-16384);
  });
  // waitFor resolves with the first match of re in the stream's output.
  p.waitFor = (stream, re, ms = startTimeoutMs) => new Promise((resolve, reject) => {
    const check = () => {
      const m = p[stream].match(re);
      if (m) {
        done();
        resolve(m);
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${name}: no ${re} within ${ms} ms:\n${p.stderr}`));
    }, ms);
    const onExit = (code, signal) => {
      done();
      reject(new Error(`${name} exited (${code ?? signal}) before ${re}:\n${p.stderr}`));
    };
    const done = () => {
      clearTimeout(timer);
      child[stream].off('data', check);
      child.off('exit', onExit);
    };
    child[stream].on('data', check);
    child.once('exit', onExit);
    check();
  });
  // stop sends signal (SIGTERM) and waits for the process to exit.
  p.stop = async (signal = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return p;
}

// run runs a vidgate command to its end and returns its stdout.
export async function run(args, env = {}) {
  const { stdout } = await promisify(execFile)(await vidgateBinary(), args, { env: { ...process.env, ...env } });
  return stdout;
}

function withToken(authorization) {
  return (input, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', authorization);
    return fetch(input, { ...init, headers });
  };
}

// startVidgate starts the embedded default; args are more flags for it.
export async function startVidgate(args = []) {
  const dataDir = await mkdtemp(join(tmpdir(), 'vidgate-clients-'));
  let p;
  const stop = async () => {
    await p?.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    p = await start('vidgate', ['--addr', '127.0.0.1:0', '--data-dir', dataDir, ...args]);
    const [, base] = await p.waitFor('stdout', /GraphQL API\s+(http:\/\/\S+)\/graphql/);
    const ready = await fetch(`${base}/readyz`);
    if (!ready.ok) throw new Error(`vidgate is not ready: ${ready.status} ${await ready.text()}`);
    const token = await run(['token', '--sub', 'conformance', '--role', 'user', '--ttl', '1h', '--data-dir', dataDir]);
    const authorization = `Bearer ${token.trim()}`;
    return {
      url: `${base}/graphql`,
      wsUrl: `${base.replace(/^http/, 'ws')}/graphql`,
      base,
      token: token.trim(),
      authorization,
      fetch: withToken(authorization),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

// clusterSkipReason says why startCluster cannot run here, or is undefined.
export function clusterSkipReason() {
  if (process.env.VIDGATE_TEST_DATABASE_URL && process.env.VIDGATE_TEST_REDIS_URL) return undefined;
  return 'vidgate on PostgreSQL and Redis needs VIDGATE_TEST_DATABASE_URL and VIDGATE_TEST_REDIS_URL ' +
    '(e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable and redis://127.0.0.1:6379/0)';
}

const key = () => randomBytes(32).toString('base64');

// startCluster starts vidgate on PostgreSQL (a new schema in
// VIDGATE_TEST_DATABASE_URL's database) and Redis (VIDGATE_TEST_REDIS_URL,
// under a new key prefix): `vidgate migrate`, API processes a and b
// (`vidgate serve`) and a worker. The simulated provider is b's, and its
// webhooks go to b, so a can be stopped while a job is being generated.
export async function startCluster() {
  const { default: pg } = await import('pg');
  const { createClient } = await import('@redis/client');
  const id = randomBytes(4).toString('hex');
  const schema = `vgclients_${id}`;
  const prefix = `vgclients-${id}`;
  const procs = [];
  const cleanups = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    for (const f of cleanups.reverse()) await f();
  };
  try {
    const admin = new pg.Client({ connectionString: process.env.VIDGATE_TEST_DATABASE_URL });
    await admin.connect();
    cleanups.push(() => admin.end());
    await admin.query(`CREATE SCHEMA ${schema}`);
    cleanups.push(() => admin.query(`DROP SCHEMA ${schema} CASCADE`));

    const rdb = createClient({ url: process.env.VIDGATE_TEST_REDIS_URL });
    rdb.on('error', () => {}); // a failed command rejects; nothing else to report
    await rdb.connect();
    cleanups.push(() => rdb.close());
    cleanups.push(async () => {
      for await (const keys of rdb.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
        if (keys.length) await rdb.del(keys);
      }
    });

    const bucket = await mkdtemp(join(tmpdir(), 'vidgate-clients-bucket-'));
    cleanups.push(() => rm(bucket, { recursive: true, force: true }));

    const dsn = new URL(process.env.VIDGATE_TEST_DATABASE_URL);
    dsn.searchParams.set('search_path', schema);
    const jwtSecret = key();
    const env = {
      VIDGATE_DATABASE_URL: dsn.toString(),
      VIDGATE_REDIS_URL: process.env.VIDGATE_TEST_REDIS_URL,
      VIDGATE_REDIS_PREFIX: prefix,
      VIDGATE_BUCKET_URL: `file://${bucket}`,
      VIDGATE_JWT_SECRET: jwtSecret,
      VIDGATE_PROMPT_KEYS: `k1:${key()}`,
      VIDGATE_PROMPT_HASH_KEY: key(),
      VIDGATE_URL_SIGNING_KEY: key(),
      VIDGATE_SIM_WEBHOOK_SECRET: `whsec_${key()}`,
      VIDGATE_ENABLE_SIM: 'true',
      VIDGATE_SHUTDOWN_GRACE: '3s',
    };
    await run(['migrate'], env);

    const serve = async (name) => {
      const p = await start(name, ['serve', '--addr', '127.0.0.1:0'], env);
      procs.push(p);
      const [, addr] = await p.waitFor('stderr', /"msg":"vidgate listening".*?"addr":"([^"]+)"/);
      const base = `http://${addr}`;
      return { name, proc: p, base, url: `${base}/graphql`, wsUrl: `ws://${addr}/graphql` };
    };
    const [a, b] = await Promise.all([serve('api-a'), serve('api-b')]);
    const worker = await start('worker', ['worker', '--public-url', b.base, '--sim-url', `${b.base}/sim`,
      '--poll-after', '2s', '--visibility-timeout', '5s', '--concurrency', '4'], env);
    procs.push(worker);
    await worker.waitFor('stderr', /"msg":"vidgate worker running"/);

    const token = (await run(['token', '--sub', 'conformance', '--role', 'user', '--ttl', '1h'], env)).trim();
    const authorization = `Bearer ${token}`;
    return { a, b, worker, token, authorization, fetch: withToken(authorization), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
