// Recomputes qstor's TFChain encodings (tfchain_vectors' JSON) with
// @polkadot/types from the same metadata, and decodes qstor's values with it.
// Usage: node check_polkadot.js METADATA_JSON VECTORS_JSON
// Exit 0 when every byte matches, 1 with the differences otherwise.
'use strict';
const fs = require('fs');
const { TypeRegistry, Metadata } = require('@polkadot/types');
const { expandMetadata } = require('@polkadot/types/metadata/decorate');
const { u8aToHex, u8aConcat, stringToU8a, compactStripLength } = require('@polkadot/util');
const { cryptoWaitReady, ed25519PairFromSeed, ed25519Sign, blake2AsU8a, ed25519Verify } = require('@polkadot/util-crypto');

async function main() {
  const [metaPath, vectorsPath] = process.argv.slice(2);
  const hex = JSON.parse(fs.readFileSync(metaPath, 'utf8')).result;
  const q = JSON.parse(fs.readFileSync(vectorsPath, 'utf8'));
  await cryptoWaitReady();
  const registry = new TypeRegistry();
  const metadata = new Metadata(registry, hex);
  registry.setMetadata(metadata);
  const { tx } = expandMetadata(registry, metadata);

  let checks = 0;
  const failures = [];
  const eq = (what, ours, theirs) => {
    checks++;
    if (ours !== theirs) failures.push(`${what}:\n  qstor    ${ours}\n  polkadot ${theirs}`);
  };

  const pair = ed25519PairFromSeed(new Uint8Array(32).fill(7));
  eq('public key', q.pk, u8aToHex(pair.publicKey));
  const hash = stringToU8a('0123456789abcdef0123456789abcdef');
  const cnc = (node, data) => tx.smartContractModule.createNodeContract(node, hash, data, 0, null);
  const calls = {
    create_twin: tx.tfgridModule.createTwin('relay.grid.tf', null),
    update_twin: tx.tfgridModule.updateTwin('relay.02.grid.tf', u8aToHex(new Uint8Array(33).fill(2))),
    user_accept_tc: tx.tfgridModule.userAcceptTc('https://library.threefold.me/info/legal/#/', 'abc'),
    create_node_contract: cnc(11, '{}'),
    update_node_contract: tx.smartContractModule.updateNodeContract(42, hash, '{}'),
    cancel_contract: tx.smartContractModule.cancelContract(42),
    batch_all: tx.utility.batchAll([cnc(11, '{}'), tx.smartContractModule.cancelContract(5)]),
    transfer_keep_alive: tx.balances.transferKeepAlive({ Id: pair.publicKey }, 10000000),
  };
  for (const [name, call] of Object.entries(calls)) eq(`call ${name}`, q.calls[name], call.toHex());

  for (const [name, v] of Object.entries(q.signed)) {
    const method = registry.createType('Call', v.call);
    const era = v.era_immortal ? registry.createType('ExtrinsicEra', '0x00')
                               : registry.createType('ExtrinsicEra', { current: v.era_current, period: v.era_period });
    eq(`${name} era`, v.era_hex, era.toHex());
    const payload = registry.createType('ExtrinsicPayload', {
      method: method.toHex(), era, nonce: v.nonce, tip: v.tip, specVersion: v.spec,
      transactionVersion: v.tx, genesisHash: v.genesis, blockHash: v.block_hash,
    }, { version: 4 });
    const bytes = payload.toU8a({ method: true });
    eq(`${name} signing payload`, v.payload, u8aToHex(bytes));
    const msg = bytes.length > 256 ? blake2AsU8a(bytes, 256) : bytes;
    const sig = ed25519Sign(msg, pair);
    const xt = registry.createType('Extrinsic', { method }, { version: 4 });
    xt.addSignature(pair.publicKey, u8aConcat(new Uint8Array([0]), sig), payload.toHex());
    eq(`${name} signed extrinsic`, v.extrinsic, xt.toHex());
    // And qstor's extrinsic, decoded by polkadot, carries a valid signature.
    const back = registry.createType('Extrinsic', v.extrinsic);
    eq(`${name} decoded signer`, q.pk, u8aToHex(back.signer.toU8a().slice(-32)));
    eq(`${name} decoded nonce`, String(v.nonce), back.nonce.toString());
    eq(`${name} decoded tip`, v.tip, back.tip.toString());
    eq(`${name} signature verifies`, true, ed25519Verify(msg, back.signature.toU8a().slice(-64), pair.publicKey));
  }

  const c = registry.createType('PalletSmartContractContract', q.contract).toJSON();
  eq('contract re-encoded', q.contract, registry.createType('PalletSmartContractContract', q.contract).toHex());
  eq('contract id', 42, c.contractId);
  eq('contract twin', 9, c.twinId);
  eq('contract state', 777, c.state.gracePeriod);
  eq('contract node', 11, c.contractType.nodeContract.nodeId);
  eq('contract data', u8aToHex(stringToU8a('{"v":3}')), c.contractType.nodeContract.deploymentData);
  eq('contract ip', u8aToHex(stringToU8a('185.1.2.3/24')), c.contractType.nodeContract.publicIpsList[0].ip);
  eq('contract solution provider', 3, c.solutionProviderId);

  const events = registry.createType('Vec<FrameSystemEventRecord>', q.events);
  eq('events re-encoded', q.events, events.toHex());
  eq('event names', 'smartContractModule.ContractCreated system.ExtrinsicSuccess system.ExtrinsicFailed',
     events.map((e) => `${e.event.section}.${e.event.method}`).join(' '));
  eq('event phase', 2, events[2].phase.asApplyExtrinsic.toNumber());
  const de = events[2].event.data[0];
  const found = registry.findMetaError(de.asModule);
  eq('module error name', q.events_error, `${found.section}.${found.name}`.replace(/^smartContractModule/, 'SmartContractModule'));
  eq('created contract id', 42, events[0].event.data[0].contractId.toNumber());

  const { query } = expandMetadata(registry, metadata);
  // Decorated storage functions return the key with a compact length prefix.
  const key = (k) => u8aToHex(compactStripLength(k)[1]);
  eq('key System.Account', q.keys.account, key(query.system.account(pair.publicKey)));
  eq('key TwinIdByAccountID', q.keys.twin_id, key(query.tfgridModule.twinIdByAccountID(pair.publicKey)));
  eq('key Twins(7)', q.keys.twins_7, key(query.tfgridModule.twins(7)));
  eq('key Contracts(42)', q.keys.contracts_42, key(query.smartContractModule.contracts(42)));
  eq('key ContractIDByNodeIDAndHash', q.keys.contract_id_by_node_hash,
     key(query.smartContractModule.contractIDByNodeIDAndHash(11, hash)));
  eq('key ActiveNodeContracts(11)', q.keys.active_node_contracts_11, key(query.smartContractModule.activeNodeContracts(11)));
  eq('key System.Events', q.keys.events, key(query.system.events()));

  if (failures.length) {
    console.error(`tfchain_polkadot: ${failures.length} of ${checks} checks differ:\n${failures.join('\n')}`);
    process.exit(1);
  }
  console.log(`tfchain_polkadot: ${checks} checks equal (@polkadot/types ${require('@polkadot/types/packageInfo').packageInfo.version})`);
}

main().catch((e) => { console.error('tfchain_polkadot:', e); process.exit(1); });
