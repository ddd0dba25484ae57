// Block rate and submit-to-inBlock latency of the devnet's chain, measured
// with @polkadot/api (docs/benchmarks.md has the command and the figures).
//
// usage: node bench_chain.cjs <chain ws url> <qstor binary> <devnet data dir> [seconds] [submits]
'use strict';

const { execFileSync } = require('child_process');
const { ApiPromise, WsProvider } = require('@polkadot/api');
const { Keyring } = require('@polkadot/keyring');
const { cryptoWaitReady } = require('@polkadot/util-crypto');

const [url, qstor, dataDir, secondsArg, submitsArg] = process.argv.slice(2);
const seconds = Number(secondsArg || 20);
const submits = Number(submitsArg || 20);

(async () => {
  await cryptoWaitReady();
  const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
  // Blocks per second over `seconds`, from chain_subscribeNewHeads.
  let first = null;
  let last = null;
  let count = 0;
  const unsub = await api.rpc.chain.subscribeNewHeads((h) => {
    const now = process.hrtime.bigint();
    if (first === null) first = { n: h.number.toNumber(), t: now };
    last = { n: h.number.toNumber(), t: now };
    count++;
  });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  unsub();
  const span = Number(last.t - first.t) / 1e9;
  const blocks = last.n - first.n;
  console.log(`blocks: ${blocks} in ${span.toFixed(2)} s = ${(blocks / span).toFixed(2)} blocks/s (${count} notifications)`);

  // Submit-to-inBlock latency of transfers, one at a time.
  const keyring = new Keyring({ type: 'ed25519', ss58Format: 42 });
  const pair = keyring.addFromSeed(new Uint8Array(32).fill(8));
  const dest = keyring.addFromSeed(new Uint8Array(32).fill(9));
  execFileSync(qstor, ['devnet', 'fund', '--data', dataDir, pair.address, '1000'], { stdio: 'pipe' });
  const lat = [];
  for (let i = 0; i < submits; i++) {
    const t0 = process.hrtime.bigint();
    await new Promise((resolve, reject) => {
      api.tx.balances.transferKeepAlive(dest.address, 10000000).signAndSend(pair, (res) => {
        if (res.status.isInBlock) resolve();
        if (res.isError) reject(new Error(res.status.type));
      }).catch(reject);
    });
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  lat.sort((a, b) => a - b);
  const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
  console.log(`submit->inBlock over ${lat.length} transfers: mean ${mean.toFixed(0)} ms, median ${lat[Math.floor(lat.length / 2)].toFixed(0)} ms, min ${lat[0].toFixed(0)} ms, max ${lat[lat.length - 1].toFixed(0)} ms`);
  await api.disconnect();
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
