// Independent TFChain clients against the devnet's chain (docs/devnet.md):
// @polkadot/api (Parity's JavaScript client) and @threefold/tfchain_client
// (ThreeFold's own), written by others, must accept the devnet as a TFChain.
//
// usage: node polkadot_judge.cjs <chain ws url> <qstor binary> <devnet data dir>
// Prints "tfchain judge: ok" and exits 0 when every check passed.
'use strict';

const { execFileSync } = require('child_process');
const assert = require('assert');
const { ApiPromise, WsProvider } = require('@polkadot/api');
const { Keyring } = require('@polkadot/keyring');
const { cryptoWaitReady } = require('@polkadot/util-crypto');

const [url, qstor, dataDir] = process.argv.slice(2);
if (!url || !qstor || !dataDir) {
  console.error('usage: polkadot_judge.cjs <ws url> <qstor> <devnet data dir>');
  process.exit(2);
}

function fund(address, tft) {
  execFileSync(qstor, ['devnet', 'fund', '--data', dataDir, address, String(tft)], { stdio: 'pipe' });
}

// signAndSend, resolved at inBlock with the events, or the dispatch error.
function send(api, tx, pair) {
  return new Promise((resolve, reject) => {
    let unsub = null;
    const timer = setTimeout(() => reject(new Error('no inBlock within 30 s')), 30000);
    tx.signAndSend(pair, (result) => {
      if (result.isError) {
        clearTimeout(timer);
        reject(new Error('extrinsic error status: ' + result.status.type));
        return;
      }
      if (result.status.isInBlock || result.status.isFinalized) {
        clearTimeout(timer);
        if (unsub) unsub();
        resolve(result);
      }
    }).then((u) => { unsub = u; }).catch((e) => { clearTimeout(timer); reject(e); });
  });
}

function moduleError(api, result) {
  const de = result.dispatchError;
  if (!de) return null;
  assert(de.isModule, 'dispatch error is not a module error: ' + de.toString());
  const meta = api.registry.findMetaError(de.asModule);
  return `${meta.section}.${meta.name}`;
}

async function polkadotApi() {
  const api = await ApiPromise.create({ provider: new WsProvider(url), throwOnConnect: true, noInitWarn: true });
  const rv = api.runtimeVersion;
  assert.strictEqual(rv.specName.toString(), 'substrate-threefold');
  assert.strictEqual(rv.specVersion.toNumber(), 152);
  assert.strictEqual(rv.transactionVersion.toNumber(), 2);
  assert.strictEqual(api.registry.chainSS58, 42);
  assert(api.tx.tfgridModule.userAcceptTc, 'metadata lacks tfgridModule.userAcceptTc');
  assert.strictEqual(api.consts.smartContractModule.maxDeploymentDataLength.toNumber(), 512);
  const genesis = (await api.rpc.chain.getBlockHash(0)).toHex();
  assert.strictEqual(genesis, api.genesisHash.toHex());
  console.log(`polkadot.js: connected to ${(await api.rpc.system.chain()).toString()}, spec ${rv.specVersion}, genesis ${genesis}`);

  const keyring = new Keyring({ type: 'ed25519', ss58Format: 42 });
  const pair = keyring.addFromSeed(new Uint8Array(32).fill(3));
  fund(pair.address, 100);
  const acct = await api.query.system.account(pair.address);
  assert(acct.data.free.toBigInt() >= 100n * 10000000n, 'faucet did not fund ' + pair.address);

  let r = await send(api, api.tx.tfgridModule.userAcceptTc('https://library.threefold.me/info/legal/#/', 'abc'), pair);
  assert.strictEqual(moduleError(api, r), null);
  r = await send(api, api.tx.tfgridModule.createTwin('relay.grid.tf', null), pair);
  assert.strictEqual(moduleError(api, r), null);
  assert(r.events.some(({ event }) => api.events.tfgridModule.TwinStored.is(event)), 'no TwinStored event');
  const twinId = (await api.query.tfgridModule.twinIdByAccountID(pair.address)).unwrap().toNumber();
  const twin = (await api.query.tfgridModule.twins(twinId)).unwrap();
  assert.strictEqual(twin.accountId.toString(), pair.address);
  assert.strictEqual(Buffer.from(twin.relay.unwrap().toU8a(true)).toString(), 'relay.grid.tf');
  console.log(`polkadot.js: twin ${twinId}`);

  const hash = '0123456789abcdef0123456789abcdef';
  r = await send(api, api.tx.smartContractModule.createNodeContract(1, hash, '{}', 0, null), pair);
  assert.strictEqual(moduleError(api, r), null);
  const created = r.events.find(({ event }) => api.events.smartContractModule.ContractCreated.is(event));
  assert(created, 'no ContractCreated event');
  const contractId = created.event.data[0].contractId.toNumber();
  assert(contractId > 0);
  const contract = (await api.query.smartContractModule.contracts(contractId)).unwrap();
  assert(contract.state.isCreated);
  assert.strictEqual(contract.twinId.toNumber(), twinId);
  assert(contract.contractType.isNodeContract);
  const nc = contract.contractType.asNodeContract;
  assert.strictEqual(nc.nodeId.toNumber(), 1);
  assert.strictEqual(Buffer.from(nc.deploymentHash.toU8a()).toString(), hash);
  assert.strictEqual(Buffer.from(nc.deploymentData.toU8a(true)).toString(), '{}');
  const byHash = await api.query.smartContractModule.contractIDByNodeIDAndHash(1, hash);
  assert.strictEqual(byHash.toNumber(), contractId);
  const active = await api.query.smartContractModule.activeNodeContracts(1);
  assert(active.map((x) => x.toNumber()).includes(contractId));
  console.log(`polkadot.js: contract ${contractId} on node 1`);

  // A failing call: a node the devnet does not have.
  r = await send(api, api.tx.smartContractModule.createNodeContract(999999, 'fedcba9876543210fedcba9876543210', '{}', 0, null), pair);
  assert.strictEqual(moduleError(api, r), 'smartContractModule.NodeNotExists');
  assert(r.events.some(({ event }) => api.events.system.ExtrinsicFailed.is(event)));

  r = await send(api, api.tx.smartContractModule.cancelContract(contractId), pair);
  assert.strictEqual(moduleError(api, r), null);
  assert(r.events.some(({ event }) => api.events.smartContractModule.NodeContractCanceled.is(event)));
  assert((await api.query.smartContractModule.contracts(contractId)).isNone);

  // Pricing as tfgrid-sdk-ts reads it: policy 1 and the TFT prices (the
  // devnet's defaults, 10/720 USD per su-hour and 0.01 USD per TFT, in chain units).
  const policy = (await api.query.tfgridModule.pricingPolicies(1)).unwrap();
  assert.strictEqual(policy.id.toNumber(), 1);
  assert.strictEqual(policy.su.value.toNumber(), 138889);
  assert(policy.su.unit.isGigabytes, 'su unit ' + policy.su.unit.toString());
  assert((await api.query.tfgridModule.pricingPolicies(2)).isNone);
  assert.strictEqual((await api.query.tftPriceModule.tftPrice()).toNumber(), 10);
  assert.strictEqual((await api.query.tftPriceModule.averageTftPrice()).toNumber(), 10);
  console.log(`polkadot.js: pricing policy 1 su ${policy.su.value} per ${policy.su.unit}, TFT 10 mUSD`);

  // Map iteration (state_getKeysPaged) over the twins.
  const twins = await api.query.tfgridModule.twins.entries();
  assert(twins.length >= 1);
  // batch_all through the Utility pallet.
  r = await send(api, api.tx.utility.batchAll([
    api.tx.smartContractModule.createNodeContract(2, hash, '{}', 0, null),
    api.tx.smartContractModule.createNodeContract(3, hash, '{}', 0, null),
  ]), pair);
  assert.strictEqual(moduleError(api, r), null);
  const ids = r.events.filter(({ event }) => api.events.smartContractModule.ContractCreated.is(event));
  assert.strictEqual(ids.length, 2);
  console.log('polkadot.js: ok');
  await api.disconnect();
  return { twinId };
}

async function tfchainClient() {
  const { Client } = require('@threefold/tfchain_client');
  const seed = '0x' + '05'.repeat(32);
  const client = new Client({ url, mnemonicOrSecret: seed, keypairType: 'ed25519' });
  await client.connect();
  fund(client.address, 50);
  await (await client.termsAndConditions.accept({
    documentLink: 'https://library.threefold.me/info/legal/#/', documentHash: 'abc',
  })).apply();
  const twin = await (await client.twins.create({ relay: 'relay.grid.tf', pk: null })).apply();
  assert(twin && twin.id > 0, 'tfchain_client: no twin from TwinStored: ' + JSON.stringify(twin));
  const twinId = await client.twins.getTwinIdByAccountId({ accountId: client.address });
  assert.strictEqual(twinId, twin.id);
  const hash = 'aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb';
  const contract = await (await client.contracts.createNode({
    nodeId: 1, hash, data: '{}', numberOfPublicIps: 0, solutionProviderId: null,
  })).apply();
  assert(contract && contract.contractId > 0, 'tfchain_client: no contract: ' + JSON.stringify(contract));
  const got = await client.contracts.get({ id: contract.contractId });
  assert.strictEqual(got.twinId, twinId);
  const byHash = await client.contracts.getContractIdByNodeIdAndHash({ nodeId: 1, hash });
  assert.strictEqual(byHash, contract.contractId);
  // A failing call comes back as TFChain's error name.
  let failed = null;
  try {
    await (await client.contracts.createNode({ nodeId: 999999, hash, data: '{}', numberOfPublicIps: 0, solutionProviderId: null })).apply();
  } catch (e) {
    // TFChainError: keyError is the name findMetaError gave.
    failed = String(e && (e.keyError || e.message || e));
  }
  assert(failed && failed.includes('NodeNotExists'), 'tfchain_client: expected NodeNotExists, got ' + failed);
  await (await client.contracts.cancel({ id: contract.contractId })).apply();
  console.log(`tfchain_client: twin ${twinId}, contract ${contract.contractId} created and cancelled; ok`);
  await client.disconnect();
}

// qstor and polkadot.js on one account. qstor's twin key is the ed25519 key
// that substrate-bip39 derives from the words, as polkadot's keyring does, so
// `keyring.addFromMnemonic(words)` (ed25519) is qstor's account. polkadot.js
// funds it and registers its twin; qstor reads that twin and balance back,
// then applies a storage; polkadot.js reads the contracts qstor wrote.
async function crossWithQstor() {
  const fs = require('fs');
  const os = require('os');
  const path = require('path');
  const { mnemonicGenerate } = require('@polkadot/util-crypto');
  const api = await ApiPromise.create({ provider: new WsProvider(url), throwOnConnect: true, noInitWarn: true });
  const words = mnemonicGenerate(24);
  const pair = new Keyring({ type: 'ed25519', ss58Format: 42 }).addFromMnemonic(words);
  fund(pair.address, 200);
  let r = await send(api, api.tx.utility.batchAll([
    api.tx.tfgridModule.userAcceptTc('https://library.threefold.me/info/legal/#/', 'abc'),
    api.tx.tfgridModule.createTwin('relay.grid.tf', null),
  ]), pair);
  assert.strictEqual(moduleError(api, r), null);
  const twinId = (await api.query.tfgridModule.twinIdByAccountID(pair.address)).unwrap().toNumber();

  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'qstor-judge-'));
  const wordsFile = path.join(home, 'words');
  fs.writeFileSync(wordsFile, words + '\n', { mode: 0o600 });
  const env = { ...process.env, QSTOR_HOME: path.join(home, 'home'), QSTOR_DEVNET_DIR: dataDir,
                QSTOR_PASSPHRASE: 'judge passphrase' };
  delete env.QSTOR_MNEMONIC;
  const q = (args) => execFileSync(qstor, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  q(['init', '--mnemonic-file', wordsFile]);
  // qstor reads what polkadot.js wrote: the same address, twin and balance.
  const addr = JSON.parse(q(['--json', 'wallet', 'address']));
  assert.strictEqual(addr.address, pair.address, 'qstor and polkadot.js disagree on the account');
  const who = JSON.parse(q(['--json', 'whoami', '--network', 'devnet']));
  const net = who.networks.find((n) => n.network === 'devnet');
  assert(net && net.twin_id === twinId, 'qstor whoami: twin ' + JSON.stringify(who.networks) + ', chain says ' + twinId);
  const bal = JSON.parse(q(['--json', 'wallet', 'balance']));
  const free = (await api.query.system.account(pair.address)).data.free.toBigInt();
  assert.strictEqual(BigInt(bal.free_units), free, 'qstor wallet balance vs System.Account');
  console.log(`qstor: reads polkadot.js's twin ${twinId} and balance ${free} of ${pair.address}`);

  // polkadot.js reads what qstor wrote: the contracts of an apply.
  const manifest = path.join(home, 'cross.yaml');
  fs.writeFileSync(manifest, ['apiVersion: qstor.threefold.io/v1', 'kind: Storage', 'metadata:',
    '  name: cross', 'spec:', '  network: devnet', '  capacity: 64MiB', '  redundancy:',
    '    dataShards: 2', '    parityShards: 1', ''].join('\n'));
  const events = q(['--json', 'apply', manifest, '--auto-approve', '--no-mount']).split('\n')
    .filter((l) => l.trim()).map((l) => JSON.parse(l));
  const ready = events.filter((e) => e.type === 'apply_progress' && e.step === 'ready');
  assert(ready.length >= 3, 'qstor apply made ' + ready.length + ' namespaces');
  const mine = [];
  for (const [key, value] of await api.query.smartContractModule.contracts.entries()) {
    const c = value.unwrap();
    if (c.twinId.toNumber() !== twinId || !c.state.isCreated || !c.contractType.isNodeContract) continue;
    const nc = c.contractType.asNodeContract;
    const data = JSON.parse(Buffer.from(nc.deploymentData.toU8a(true)).toString());
    if (data.name !== 'cross') continue;
    const hash = Buffer.from(nc.deploymentHash.toU8a()).toString();
    assert(/^[0-9a-f]{32}$/.test(hash), 'deployment hash is not 32 ASCII hex: ' + hash);
    const back = await api.query.smartContractModule.contractIDByNodeIDAndHash(nc.nodeId, nc.deploymentHash);
    assert.strictEqual(back.toNumber(), c.contractId.toNumber());
    mine.push(c.contractId.toNumber());
    void key;
  }
  assert.strictEqual(mine.length, ready.length, `polkadot.js sees ${mine.length} contracts of qstor's ${ready.length} namespaces`);
  for (const e of ready) assert(mine.includes(e.contract_id), 'namespace contract ' + e.contract_id + ' not on chain');
  console.log(`polkadot.js: reads qstor's ${mine.length} contracts (${mine.join(', ')}); ok`);
  q(['destroy', manifest, '--auto-approve']);
  fs.rmSync(home, { recursive: true, force: true });
  await api.disconnect();
}

(async () => {
  await cryptoWaitReady();
  await polkadotApi();
  await crossWithQstor();
  if (process.env.QSTOR_SKIP_TFCHAIN_CLIENT !== '1') await tfchainClient();
  console.log('tfchain judge: ok');
  process.exit(0);
})().catch((e) => {
  console.error('tfchain judge: FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
