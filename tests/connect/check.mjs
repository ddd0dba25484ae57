// The ThreeFold Connect login vectors (vectors.json), recomputed with the
// published login SDK @threefoldjimber/threefold_login 1.4.0 and its
// libsodium-wrappers, and the app-side verification of the SDK
// (parseAndValidateRedirectUrl) run on the vector callback.
// grid/connect_login_test.cc checks qstor's C++ against the same file.
//   node check.mjs           check vectors.json (exit 1 on any difference); with
//                            QSTOR_BIN set, also the SDK against a devnet's login
//                            service and phone (`qstor devnet approve <login URL>`)
//   node check.mjs --write   (re)write vectors.json
// See docs/identity.md "ThreeFold Connect login".
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { pbkdf2Sync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
const sodium = require('libsodium-wrappers');
const bip39 = require('bip39');
const { ThreefoldLogin } = require('@threefoldjimber/threefold_login');
const sdkCrypto = require('@threefoldjimber/threefold_login/dist/utils/crypto.js');

const here = path.dirname(fileURLToPath(import.meta.url));
const file = path.join(here, 'vectors.json');
const b64 = (u8) => Buffer.from(u8).toString('base64');
const fill = (byte, n) => new Uint8Array(n).fill(byte);

await sodium.ready;
const appId = '127.0.0.1:47817';
const state = 'qstorVectorState0123456789abcdef';
// The app: the SDK's key from a BIP39 phrase (entropy used as the ed25519 seed).
const appSeed = fill(0x11, 32);
const appPhrase = bip39.entropyToMnemonic(Buffer.from(appSeed).toString('hex'));
const login = new ThreefoldLogin('https://login.invalid', appId, appPhrase, '/callback', 'https://kyc.invalid');
await login.init();
const loginUrl = new URL(login.generateLoginUrl(state, {
  scope: JSON.stringify({ doubleName: true, email: true, derivedSeed: true }),
}));
const appCurvePk = loginUrl.searchParams.get('publickey');
// The phone: the user's key, derivedSeed, the sealed scope, the signed attempt.
const userSeed = fill(0x22, 32);
const user = sodium.crypto_sign_seed_keypair(userSeed);
const derivedSeed = pbkdf2Sync(b64(user.privateKey), appId, 1000, 32, 'sha256');
const scope = JSON.stringify({
  doubleName: 'demo.3bot',
  email: { email: 'demo@devnet.local', sei: 'sei-of-the-vector' },
  derivedSeed: b64(derivedSeed),
});
const nonce = fill(0x33, 24);
const ciphertext = sodium.crypto_box_easy(
  sodium.from_string(scope), nonce, Buffer.from(appCurvePk, 'base64'),
  sodium.crypto_sign_ed25519_sk_to_curve25519(user.privateKey));
const msg = JSON.stringify({
  signedState: state,
  data: { nonce: b64(nonce), ciphertext: b64(ciphertext) },
  selectedImageId: 1,
  doubleName: 'demo.3bot',
  randomRoom: 'vector-room',
  appId,
});
const signed = sodium.crypto_sign(sodium.from_string(msg), user.privateKey);
const callback = 'http://127.0.0.1:47817/callback?signedAttempt=' +
  encodeURIComponent(JSON.stringify({ signedAttempt: b64(signed), doubleName: 'demo.3bot' }));
// Connect -> qstor: BLAKE2b-256(key = derivedSeed, "qstor-identity-from-connect-v1") as 24 words.
const entropy = sodium.crypto_generichash(32, sodium.from_string('qstor-identity-from-connect-v1'),
                                          derivedSeed);
const mnemonic = bip39.entropyToMnemonic(Buffer.from(entropy).toString('hex'));

// The SDK's own app-side verification of the callback (users API answered
// with the vector user's key, no network).
login.getPublicKeyForDoubleName = async () => user.publicKey;
const checked = await login.parseAndValidateRedirectUrl(new URL(callback), state);
const problems = [];
if (checked.profile.doubleName !== 'demo.3bot') problems.push('SDK: doubleName');
if (checked.profile.derivedSeed !== b64(derivedSeed)) problems.push('SDK: derivedSeed');
if (checked.profile.email.email !== 'demo@devnet.local') problems.push('SDK: email');
// The SDK refuses another state and another appid (what qstor refuses too).
for (const [what, fn] of [
  ['state', () => login.parseAndValidateRedirectUrl(new URL(callback), state + 'x')],
  ['appId', () => new ThreefoldLogin('https://login.invalid', 'other.app', appPhrase, '/callback', '')
                    .parseAndValidateRedirectUrl(new URL(callback), state)],
]) {
  try {
    const other = fn();
    await other;
    problems.push(`SDK accepted a wrong ${what}`);
  } catch (e) { /* refused, as it must be */ }
}
// publickey: the SDK's conversion of the app key.
if (sdkCrypto.getEdPkInCurve(sodium.crypto_sign_seed_keypair(appSeed).publicKey) !== appCurvePk) {
  problems.push('SDK: getEdPkInCurve');
}

const vectors = {
  source: '@threefoldjimber/threefold_login 1.4.0 + libsodium-wrappers (tests/connect/check.mjs)',
  app_id: appId,
  state,
  app_seed_hex: Buffer.from(appSeed).toString('hex'),
  app_public_curve_b64: appCurvePk,
  login_url_scope: loginUrl.searchParams.get('scope'),
  user_seed_hex: Buffer.from(userSeed).toString('hex'),
  user_public_b64: b64(user.publicKey),
  derived_seed_b64: b64(derivedSeed),
  scope_plaintext: scope,
  callback_url: callback,
  connect_mnemonic: mnemonic,
};
// With QSTOR_BIN: the SDK as the app, against a real devnet playing the login
// service, the phone and the KYC service (`qstor devnet approve <login URL>`).
let devnetChecks = 0;
if (process.env.QSTOR_BIN && !process.argv.includes('--write')) {
  const qstor = process.env.QSTOR_BIN;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qstor-connect-sdk-'));
  const env = { ...process.env, QSTOR_DEVNET_DIR: dir };
  try {
    execFileSync(qstor, ['devnet', 'start', '--data', dir, '--nodes', '2'], { env, stdio: 'pipe' });
    const base = 'http://127.0.0.1:' + readFileSync(path.join(dir, 'devnet.port'), 'utf8').trim();
    const app = new ThreefoldLogin(base, appId, appPhrase, '/callback', base);
    await app.init();
    const st = 'sdkAgainstTheDevnet0123456789';
    const url = app.generateLoginUrl(st, {
      scope: JSON.stringify({ doubleName: true, email: true, derivedSeed: true }),
    });
    const out = execFileSync(qstor, ['--json', 'devnet', 'approve', url, '--data', dir, '--print-callback'],
                             { env, stdio: 'pipe' }).toString();
    const cb = JSON.parse(out.trim().split('\n').pop()).callback_url;
    // The SDK fetches the user's key from the devnet's /api/users/demo.3bot itself.
    const got = await app.parseAndValidateRedirectUrl(new URL(cb), st);
    if (got.profile.doubleName !== 'demo.3bot') problems.push('devnet: doubleName');
    if (Buffer.from(got.profile.derivedSeed || '', 'base64').length !== 32) problems.push('devnet: derivedSeed');
    if (got.profile.email?.email !== 'demo@devnet.local') problems.push('devnet: email');
    if (!(await app.isEmailVerified(got.profile.email?.sei))) problems.push('devnet: verify-sei');
    if (await app.isEmailVerified('bm90IGEgc2Vp')) problems.push('devnet: verify-sei accepted garbage');
    // A forged attempt: the SDK's crypto_sign_open throws.
    const forged = JSON.parse(execFileSync(qstor, ['--json', 'devnet', 'approve', url, '--data', dir,
                                                   '--print-callback', '--forge'],
                                           { env, stdio: 'pipe' }).toString().trim().split('\n').pop());
    try {
      await app.parseAndValidateRedirectUrl(new URL(forged.callback_url), st);
      problems.push('devnet: the SDK accepted a forged attempt');
    } catch (e) { /* refused */ }
    devnetChecks = 1;
  } catch (e) {
    problems.push('devnet: ' + (e.stderr ? e.stderr.toString() : e.message));
  } finally {
    try { execFileSync(qstor, ['devnet', 'stop', '--data', dir], { env, stdio: 'pipe' }); } catch (e) { /* not running */ }
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--write')) {
  writeFileSync(file, JSON.stringify(vectors, null, 2) + '\n');
  console.log(`wrote ${file}`);
} else {
  const want = JSON.parse(readFileSync(file, 'utf8'));
  for (const k of Object.keys(vectors)) {
    // The callback's signature is deterministic (ed25519), so every field compares.
    if (JSON.stringify(want[k]) !== JSON.stringify(vectors[k])) problems.push(`vectors.json: ${k} differs`);
  }
}
if (problems.length) {
  console.log(`0 passed, ${problems.length} failed`);
  for (const p of problems) console.log('FAILED: ' + p);
  process.exit(1);
}
console.log(`connect vectors: ${1 + devnetChecks} passed, 0 failed`);
