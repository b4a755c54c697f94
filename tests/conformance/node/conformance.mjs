#!/usr/bin/env node
// Conformance of `keyplan emulator` against the official Pinecone Node.js SDK's AdminClient.
//
// Usage: node conformance.mjs path/to/keyplan
//        (after `npm ci` in this folder; package-lock.json pins @pinecone-database/pinecone)
//
// Starts `keyplan emulator --listen 127.0.0.1:0 --seed <tmp seed with projects "demo" and
// "other">`, reads its address from stdout and its OAuth URL from the `use:` hint on stderr,
// then drives AdminClient (Admin API 2026-04) through the flow keyplan depends on:
//   projects.list -> projects.describe -> apiKeys.list -> apiKeys.create -> apiKeys.describe ->
//   apiKeys.list -> apiKeys.update (rename and roles, then rename only) -> apiKeys.delete ->
//   apiKeys.list, plus the error paths (a missing key or project: PineconeNotFoundError; a wrong
//   client secret: PineconeAuthorizationError) and what went over the wire (every request to
//   127.0.0.1, with X-Pinecone-Api-Version: 2026-04 and a bearer token, one token exchange).
//
// The SDK's token URL is hard-coded (https://login.pinecone.io/oauth/token): the fetchApi given
// to AdminClient rewrites exactly that URL to the emulator's, and refuses every other host than
// 127.0.0.1, so nothing here can reach the network. Key secrets are never printed.
//
// Prints one line per check, ends with "N passed, M failed", exits non-zero on any failure.

import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

// Nothing from the caller's environment may change what the SDK does or prints: the debug
// switches print request bodies (and so secrets), the credentials would be used as fallbacks.
for (const name of [
  'PINECONE_DEBUG',
  'PINECONE_DEBUG_CURL',
  'PINECONE_CLIENT_ID',
  'PINECONE_CLIENT_SECRET',
  'PINECONE_API_KEY',
]) {
  delete process.env[name];
}

const require = createRequire(import.meta.url);
const { AdminClient, Errors } = require('@pinecone-database/pinecone');

const SDK_PACKAGE = '@pinecone-database/pinecone';
const SDK_VERSION = '8.2.0';
const API_VERSION = '2026-04';
const PRODUCTION_TOKEN_URL = 'https://login.pinecone.io/oauth/token';
const CLIENT_ID = 'conformance-client';
const CLIENT_SECRET = 'conformance-secret';
const ROLE_ORDER = [
  'ProjectEditor',
  'ProjectViewer',
  'ControlPlaneEditor',
  'ControlPlaneViewer',
  'DataPlaneEditor',
  'DataPlaneViewer',
];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SECRET = /^pcsk_[A-Za-z0-9]{6}_[A-Za-z0-9]{64}$/;
const REQUEST_TIMEOUT_MS = 10_000;
const OVERALL_TIMEOUT_MS = 120_000;

class Failure extends Error {}

function check(condition, message) {
  if (!condition) throw new Failure(message);
}

// Whatever is printed goes through here: a key secret never reaches the log.
function redact(text) {
  return String(text).replace(/pcsk_[A-Za-z0-9_]+/g, 'pcsk_<redacted>');
}

function show(value) {
  return redact(JSON.stringify(value));
}

// ---------------------------------------------------------------------------------------------
// The emulator

function startEmulator(binary, seedPath) {
  const child = spawn(
    binary,
    [
      'emulator',
      '--listen',
      '127.0.0.1:0',
      '--seed',
      seedPath,
      '--client-id',
      CLIENT_ID,
      '--client-secret',
      CLIENT_SECRET,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no address within 10 s; stdout ${show(stdout)}, stderr ${show(stderr)}`)),
      10_000,
    );
    const parse = () => {
      const listening = stdout.match(/^keyplan emulator listening on (http:\/\/\S+)\n/);
      const hint = stderr.match(/PINECONE_OAUTH_URL=(\S+)/);
      if (listening && hint) {
        clearTimeout(timer);
        resolve({ base: listening[1], oauthUrl: hint[1] });
      }
    };
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      parse();
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      parse();
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before announcing its address: ${redact(stderr)}`));
    });
  });
  // Whatever happens to this script, the emulator does not outlive it.
  const killOnExit = () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL');
  process.on('exit', killOnExit);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      killOnExit();
      process.exit(1);
    });
  }
  return { child, ready, exited };
}

// ---------------------------------------------------------------------------------------------
// The fetch given to the SDK: 127.0.0.1 only, the production token URL mapped to the emulator's,
// every exchange recorded (method, URL, API version header, bearer or not, status).

function makeFetch(oauthUrl, exchanges) {
  return async function guardedFetch(input, init = {}) {
    const original = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const target = original === PRODUCTION_TOKEN_URL ? oauthUrl : original;
    const url = new URL(target);
    if (url.hostname !== '127.0.0.1' || url.protocol !== 'http:') {
      exchanges.push({ method: init.method ?? 'GET', url: original, refused: true });
      throw new Error(`conformance: refusing a request to ${url.protocol}//${url.host} (only http://127.0.0.1 is allowed)`);
    }
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    const record = {
      method: (init.method ?? 'GET').toUpperCase(),
      url: original,
      path: url.pathname,
      apiVersion: headers.get('x-pinecone-api-version'),
      bearer: /^Bearer \S+$/.test(headers.get('authorization') ?? ''),
      status: null,
    };
    exchanges.push(record);
    const response = await fetch(target, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    record.status = response.status;
    return response;
  };
}

// ---------------------------------------------------------------------------------------------
// Value checks

function checkProject(project, where) {
  check(project && typeof project === 'object', `${where}: not an object: ${show(project)}`);
  check(UUID.test(project.id ?? ''), `${where}.id is not a UUID: ${show(project.id)}`);
  check(typeof project.name === 'string' && project.name.length > 0, `${where}.name ${show(project.name)}`);
  check(Number.isInteger(project.maxPods) && project.maxPods >= 0, `${where}.maxPods ${show(project.maxPods)}`);
  check(typeof project.forceEncryptionWithCmek === 'boolean', `${where}.forceEncryptionWithCmek ${show(project.forceEncryptionWithCmek)}`);
  check(typeof project.organizationId === 'string' && project.organizationId.length > 0, `${where}.organizationId ${show(project.organizationId)}`);
  check(project.createdAt instanceof Date && !Number.isNaN(project.createdAt.getTime()), `${where}.createdAt is not a valid Date: ${show(project.createdAt)}`);
}

function checkKey(key, where, expected = {}) {
  check(key && typeof key === 'object', `${where}: not an object: ${show(key)}`);
  check(UUID.test(key.id ?? ''), `${where}.id is not a UUID: ${show(key.id)}`);
  check(typeof key.name === 'string' && key.name.length >= 1 && key.name.length <= 80, `${where}.name ${show(key.name)}`);
  check(UUID.test(key.projectId ?? ''), `${where}.projectId is not a UUID: ${show(key.projectId)}`);
  check(Array.isArray(key.roles) && key.roles.length > 0, `${where}.roles ${show(key.roles)}`);
  for (const role of key.roles) check(ROLE_ORDER.includes(role), `${where}.roles: unknown role ${show(role)}`);
  check(!('value' in key), `${where} carries a secret`);
  for (const [field, value] of Object.entries(expected)) {
    check(isDeepStrictEqual(key[field], value), `${where}.${field} is ${show(key[field])}, expected ${show(value)}`);
  }
}

function sortedRoles(roles) {
  return [...roles].sort((a, b) => ROLE_ORDER.indexOf(a) - ROLE_ORDER.indexOf(b));
}

async function expectError(promise, errorClass, what) {
  try {
    await promise;
  } catch (err) {
    check(err instanceof errorClass, `${what}: expected ${errorClass.name}, got ${err?.name}: ${redact(err?.message)}`);
    return err;
  }
  throw new Failure(`${what}: resolved, expected ${errorClass.name}`);
}

// ---------------------------------------------------------------------------------------------
// The run

class Run {
  passed = 0;
  failed = 0;

  async step(name, fn) {
    try {
      await fn();
      this.passed += 1;
      console.log(`ok   ${name}`);
      return true;
    } catch (err) {
      this.failed += 1;
      console.log(`FAIL ${name}: ${redact(err?.message ?? err)}`);
      if (!(err instanceof Failure) && err?.stack) console.log(redact(err.stack.split('\n').slice(1, 6).join('\n')));
      return false;
    }
  }
}

async function sdkChecks(run, base, oauthUrl) {
  const exchanges = [];
  const admin = new AdminClient({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    controllerHostUrl: base,
    fetchApi: makeFetch(oauthUrl, exchanges),
    maxRetries: 0,
  });
  const state = {};

  await run.step(`sdk: the installed SDK is ${SDK_PACKAGE}@${SDK_VERSION}, admin API ${API_VERSION}`, () => {
    const pkg = JSON.parse(readFileSync(require.resolve(`${SDK_PACKAGE}/package.json`), 'utf8'));
    check(pkg.version === SDK_VERSION, `installed ${pkg.version}; run npm ci in tests/conformance/node`);
    const { X_PINECONE_API_VERSION } = require(`${SDK_PACKAGE}/dist/pinecone-generated-ts-fetch/admin/api_version.js`);
    check(X_PINECONE_API_VERSION === API_VERSION, `its admin client speaks ${X_PINECONE_API_VERSION}`);
  });

  await run.step('sdk: the fetch guard refuses any host but 127.0.0.1', async () => {
    const guard = makeFetch(oauthUrl, []);
    for (const url of ['https://api.pinecone.io/admin/projects', 'http://localhost:1/', 'https://login.pinecone.io/oauth/token/']) {
      let refused = false;
      try {
        await guard(url, { method: 'GET' });
      } catch (err) {
        refused = /refusing a request/.test(err.message);
      }
      check(refused, `${url} was not refused`);
    }
  });

  const projectsOk = await run.step('sdk: projects.list (first call fetches the token)', async () => {
    const list = await admin.projects.list();
    check(Array.isArray(list?.data), `data is not an array: ${show(list)}`);
    list.data.forEach((p, i) => checkProject(p, `data[${i}]`));
    const names = list.data.map((p) => p.name);
    check(isDeepStrictEqual(names, ['demo', 'other']), `names ${show(names)}, expected ["demo","other"] (creation order)`);
    check(new Set(list.data.map((p) => p.organizationId)).size === 1, 'projects of more than one organisation');
    state.project = list.data[0];
  });
  if (!projectsOk) {
    console.log('     (later SDK steps need the project; stopping the SDK run)');
    run.failed += 1;
    return;
  }
  const projectId = state.project.id;

  await run.step('sdk: projects.describe', async () => {
    const project = await admin.projects.describe(projectId);
    checkProject(project, 'project');
    check(isDeepStrictEqual(project, state.project), `describe ${show(project)} differs from list ${show(state.project)}`);
  });

  await run.step('sdk: projects.describe of a missing project raises PineconeNotFoundError', async () => {
    await expectError(admin.projects.describe('00000000-0000-4000-8000-000000000000'), Errors.PineconeNotFoundError, 'describe');
  });

  await run.step('sdk: apiKeys.list holds the seeded key', async () => {
    const list = await admin.apiKeys.list(projectId);
    check(Array.isArray(list?.data), `data is not an array: ${show(list)}`);
    check(list.data.length === 1, `expected exactly the seeded key, got ${show(list.data)}`);
    checkKey(list.data[0], 'data[0]', { name: 'seeded', projectId, roles: ['DataPlaneViewer'] });
    state.seeded = list.data[0];
  });

  await run.step('sdk: apiKeys.create with an unknown role raises PineconeBadRequestError', async () => {
    await expectError(
      admin.apiKeys.create(projectId, { name: 'bad-role', roles: ['Admin'] }),
      Errors.PineconeBadRequestError,
      'create',
    );
  });

  const created = await run.step('sdk: apiKeys.create returns the key and its secret', async () => {
    const roles = ['DataPlaneViewer', 'ControlPlaneViewer'];
    const made = await admin.apiKeys.create(projectId, { name: 'node-ci', roles });
    check(made && typeof made === 'object', `not an object: ${show(made)}`);
    check(typeof made.value === 'string' && SECRET.test(made.value), 'value is not pcsk_ + 6 + _ + 64 alphanumerics');
    checkKey(made.key, 'key', { name: 'node-ci', projectId, roles: sortedRoles(roles) });
    check(made.key.id !== state.seeded?.id, 'the new key has the seeded key\'s id');
    state.key = made.key;
  });
  if (!created) {
    console.log('     (later SDK steps need the created key; stopping the SDK run)');
    run.failed += 1;
    return;
  }
  const keyId = state.key.id;

  await run.step('sdk: apiKeys.describe matches create', async () => {
    const key = await admin.apiKeys.describe(keyId);
    checkKey(key, 'key');
    check(isDeepStrictEqual(key, state.key), `describe ${show(key)} differs from create ${show(state.key)}`);
  });

  await run.step('sdk: apiKeys.list holds the new key, without its secret', async () => {
    const list = await admin.apiKeys.list(projectId);
    list.data.forEach((k, i) => checkKey(k, `data[${i}]`));
    const ids = list.data.map((k) => k.id);
    check(isDeepStrictEqual(ids, [state.seeded.id, keyId]), `ids ${show(ids)}, expected the seeded key then the new one`);
    check(isDeepStrictEqual(list.data[1], state.key), `listed ${show(list.data[1])} differs from create`);
  });

  await run.step('sdk: apiKeys.update renames and replaces the roles', async () => {
    const roles = ['ProjectViewer', 'DataPlaneEditor'];
    const updated = await admin.apiKeys.update(keyId, { name: 'node-ci-2', roles });
    checkKey(updated, 'updated', { id: keyId, name: 'node-ci-2', projectId, roles: sortedRoles(roles) });
    const described = await admin.apiKeys.describe(keyId);
    check(isDeepStrictEqual(described, updated), `describe after update ${show(described)} differs from ${show(updated)}`);
    state.key = updated;
  });

  await run.step('sdk: apiKeys.update with a name only keeps the roles', async () => {
    const updated = await admin.apiKeys.update(keyId, { name: 'node-ci-3' });
    checkKey(updated, 'updated', { id: keyId, name: 'node-ci-3', projectId, roles: state.key.roles });
  });

  await run.step('sdk: apiKeys.delete, then list no longer holds it', async () => {
    const result = await admin.apiKeys.delete(keyId);
    check(result === undefined, `delete resolved to ${show(result)}`);
    const list = await admin.apiKeys.list(projectId);
    const ids = list.data.map((k) => k.id);
    check(!ids.includes(keyId), 'the deleted key is still listed');
    check(isDeepStrictEqual(ids, [state.seeded.id]), `ids ${show(ids)}, expected only the seeded key`);
  });

  await run.step('sdk: apiKeys.describe of the deleted key raises PineconeNotFoundError', async () => {
    const err = await expectError(admin.apiKeys.describe(keyId), Errors.PineconeNotFoundError, 'describe');
    // The SDK's 404 message names the URL, not the server's message.
    check(err.message.includes(`/admin/api-keys/${keyId}`), `message ${show(err.message)} does not name the key's URL`);
  });

  await run.step('sdk: apiKeys.delete of the deleted key raises PineconeNotFoundError', async () => {
    await expectError(admin.apiKeys.delete(keyId), Errors.PineconeNotFoundError, 'delete');
  });

  await run.step(`sdk: every request went to 127.0.0.1 with X-Pinecone-Api-Version ${API_VERSION}, one token exchange`, () => {
    check(exchanges.length > 0, 'no request was made');
    for (const e of exchanges) {
      check(!e.refused, `the SDK tried to reach ${e.url}`);
      check(e.apiVersion === API_VERSION, `${e.method} ${e.path}: X-Pinecone-Api-Version ${show(e.apiVersion)}`);
    }
    const tokens = exchanges.filter((e) => e.url === PRODUCTION_TOKEN_URL);
    check(tokens.length === 1, `${tokens.length} token exchanges, expected 1 (the SDK caches its token)`);
    check(tokens[0].method === 'POST' && tokens[0].status === 200, `token exchange ${show(tokens[0])}`);
    check(exchanges[0] === tokens[0], 'the token exchange was not the first request');
    for (const e of exchanges.slice(1)) {
      check(e.path.startsWith('/admin/'), `${e.method} ${e.path}: not an admin route`);
      check(e.bearer, `${e.method} ${e.path}: no bearer token`);
    }
  });

  await run.step('sdk: a wrong client secret raises PineconeAuthorizationError', async () => {
    const wrong = [];
    const refused = new AdminClient({
      clientId: CLIENT_ID,
      clientSecret: 'wrong',
      controllerHostUrl: base,
      fetchApi: makeFetch(oauthUrl, wrong),
      maxRetries: 0,
    });
    await expectError(refused.projects.list(), Errors.PineconeAuthorizationError, 'projects.list');
    check(wrong.length === 1 && wrong[0].url === PRODUCTION_TOKEN_URL, `requests ${show(wrong)}: only the token exchange was expected`);
    check(wrong[0].status === 401, `token exchange answered ${wrong[0].status}, expected 401`);
  });

  await run.step('sdk: a wrong client id raises PineconeAuthorizationError', async () => {
    const refused = new AdminClient({
      clientId: 'someone-else',
      clientSecret: CLIENT_SECRET,
      controllerHostUrl: base,
      fetchApi: makeFetch(oauthUrl, []),
      maxRetries: 0,
    });
    await expectError(refused.apiKeys.list(projectId), Errors.PineconeAuthorizationError, 'apiKeys.list');
  });
}

async function main() {
  const binary = process.argv[2];
  if (process.argv.length !== 3) {
    console.error('usage: node conformance.mjs path/to/keyplan');
    return 64;
  }
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    console.error(`error: ${binary} is not an executable keyplan binary`);
    return 1;
  }
  const run = new Run();
  const dir = mkdtempSync(join(tmpdir(), 'keyplan-node-conformance-'));
  const seedPath = join(dir, 'seed.json');
  writeFileSync(
    seedPath,
    JSON.stringify({
      projects: [{ name: 'demo', keys: [{ name: 'seeded', roles: ['DataPlaneViewer'] }] }, { name: 'other' }],
    }),
  );
  const emulator = startEmulator(binary, seedPath);
  const watchdog = setTimeout(() => {
    console.log(`FAIL the run did not finish within ${OVERALL_TIMEOUT_MS / 1000} s`);
    emulator.child.kill('SIGKILL');
    process.exit(1);
  }, OVERALL_TIMEOUT_MS);
  try {
    let address;
    const started = await run.step('emulator: announces its address and OAuth URL', async () => {
      address = await emulator.ready;
      check(new URL(address.base).hostname === '127.0.0.1', `address ${address.base}`);
      check(address.oauthUrl === `${address.base}/oauth/token`, `OAuth URL ${address.oauthUrl}`);
    });
    if (started) {
      console.log(`emulator at ${address.base}`);
      await sdkChecks(run, address.base, address.oauthUrl);
    }
  } finally {
    const stopped = await run.step('emulator: stops on SIGTERM with exit 0', async () => {
      if (emulator.child.exitCode === null && emulator.child.signalCode === null) emulator.child.kill('SIGTERM');
      const timeout = new Promise((resolve) => setTimeout(() => resolve(null), 10_000).unref());
      const result = await Promise.race([emulator.exited, timeout]);
      check(result !== null, 'still running 10 s after SIGTERM');
      check(result.code === 0, `exited with ${result.code ?? result.signal}`);
    });
    if (!stopped) emulator.child.kill('SIGKILL');
    clearTimeout(watchdog);
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`${run.passed} passed, ${run.failed} failed`);
  return run.failed === 0 && run.passed > 0 ? 0 : 1;
}

process.exitCode = await main();
