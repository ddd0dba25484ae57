// Independent judge of qstor's JSON-RPC WebSocket server: Node's `ws`
// package sends pipelined requests (a call, an error, a subscription like
// author_submitAndWatchExtrinsic) and checks the replies and notifications.
// Usage: node ws_judge.cjs ws://127.0.0.1:PORT   (exit 0 = agreed)
'use strict';
const WebSocket = require('ws');

const url = process.argv[2];
const ws = new WebSocket(url);
const fail = (why) => { console.error('ws judge: FAIL: ' + why); process.exit(1); };
setTimeout(() => fail('no verdict within 10 s'), 10000).unref();

const replies = new Map();
const updates = [];
let subId = null;

ws.on('error', (e) => fail('socket error: ' + e.message));
ws.on('open', () => {
  // Pipelined: all three before any answer.
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'add', params: [40, 2] }));
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'no_such_method', params: [] }));
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'author_submitAndWatchExtrinsic',
                           params: ['0x1234'] }));
});
ws.on('message', (data) => {
  let m;
  try { m = JSON.parse(data.toString()); } catch (e) { return fail('not JSON: ' + data); }
  if (m.jsonrpc !== '2.0') return fail('jsonrpc is not 2.0: ' + data);
  if (m.method === 'author_extrinsicUpdate') {
    updates.push(m.params);
  } else if (m.id !== undefined) {
    replies.set(m.id, m);
    if (m.id === 3) subId = m.result;
  } else {
    return fail('unexpected frame: ' + data);
  }
  check();
});

function check() {
  if (replies.size < 3 || updates.length < 3) return;
  const add = replies.get(1), missing = replies.get(2);
  if (add.result !== 42) return fail('add gave ' + JSON.stringify(add));
  if (!missing.error || missing.error.code !== -32601) return fail('unknown method gave ' + JSON.stringify(missing));
  if (typeof subId !== 'string') return fail('subscription id ' + JSON.stringify(subId));
  const got = updates.map((u) => {
    if (u.subscription !== subId) fail('notification for ' + u.subscription + ', not ' + subId);
    return JSON.stringify(u.result);
  });
  const want = ['"ready"', '{"inBlock":"0x01"}', '{"finalized":"0x01"}'];
  if (JSON.stringify(got) !== JSON.stringify(want)) return fail('updates ' + got.join(' '));
  console.log('ws judge: ok (call, error -32601, subscription ' + subId + ' with ' + updates.length + ' updates)');
  ws.close();
  process.exit(0);
}
