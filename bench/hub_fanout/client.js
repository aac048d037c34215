// Copy of /work/shared/peers/client.js (read-only) plus mode `beholder`: `ws` that first sends
// {"type":"auth","token":$HUB_BENCH_TOKEN}, then {"type":"subscribe","topics":["alerts"]} and counts as
// open once "subscribed" arrives; answers the hub's app-level {"type":"ping"} with {"type":"pong"}.
// Light load client: opens COUNT connections, records (receive time - msg.ts), both CLOCK_MONOTONIC ms per (socket, seq).
// usage: node client.js sio|sioraw|ws URL COUNT M OUTFILE    (NODE_PATH=/tmp/peers/node/node_modules)
//   sio    = socket.io-client 4.x (transports:['websocket'], forceNew per connection)
//   sioraw = `ws` speaking the minimal Engine.IO v4 / Socket.IO v5 protocol (open, '40', ping->pong,
//            '42[...]' events read by string slicing) - same parse cost as the plain `ws` mode
//   ws     = `ws` client for plain WebSocket servers (messages start '{"ts":<float>,"seq":<int>,')
// env: CONC (connects in flight, default 50), DEFLATE=1 to offer permessage-deflate (browser-like).
// stdout: READY when all COUNT are open; DONE got dup disc when all COUNT*M received or on SIGUSR2.
// OUTFILE: Float64 LE: M send stamps ts[seq], then COUNT*M receive times recv[k*M+seq] (monotonic ms),
//          NaN = not received. latency = recv - ts[seq].
const fs = require('fs');
const [mode, url, COUNT, M, OUT] = [process.argv[2], process.argv[3], +process.argv[4], +process.argv[5], process.argv[6]];
const CONC = +(process.env.CONC || 50), DEFLATE = process.env.DEFLATE === '1';
// shared clock = CLOCK_MONOTONIC in ms (uv_hrtime; same source as Python time.monotonic())
const now = () => { const t = process.hrtime(); return t[0] * 1e3 + t[1] / 1e6; };

const recvT = new Float64Array(COUNT * M).fill(NaN), tsBySeq = new Float64Array(M).fill(NaN);
const target = COUNT * M;
let got = 0, dup = 0, disc = 0, opened = 0, inflight = 0, next = 0, finished = false, ready = false;
const socks = [];

function rec(k, ts, seq) {
  const t = now();
  if (!(seq >= 0 && seq < M)) return;
  const idx = k * M + seq;
  if (recvT[idx] === recvT[idx]) { dup++; return; }
  recvT[idx] = t; tsBySeq[seq] = ts;
  if (++got === target) finish();
}
function finish() {
  if (finished) return; finished = true;
  fs.writeFileSync(OUT, Buffer.concat([Buffer.from(tsBySeq.buffer), Buffer.from(recvT.buffer)]));
  console.log(`DONE ${got} ${dup} ${disc}`);
}
function fail(k, e) {
  if (!ready) { console.log(`ERROR connect #${k}: ${e && e.message || e}`); process.exit(2); }
}
function opened1() {
  inflight--; opened++;
  if (opened === COUNT) { ready = true; console.log('READY'); } else launch();
}

let open;
if (mode === 'ws') {
  const WebSocket = require('ws');
  open = (k) => {
    const ws = new WebSocket(url, { perMessageDeflate: DEFLATE });
    ws.on('open', opened1);
    ws.on('error', (e) => fail(k, e));
    ws.on('close', () => { if (ready) disc++; });
    ws.on('message', (data) => {          // data: Buffer starting '{"ts":<float>,"seq":<int>,'
      const s = data.toString('latin1', 0, 48), j = s.indexOf(',"seq":');
      rec(k, parseFloat(s.slice(6, j)), parseInt(s.slice(j + 7), 10));
    });
    socks.push(ws);
  };
} else if (mode === 'beholder') {
  const WebSocket = require('ws');
  const TOKEN = process.env.HUB_BENCH_TOKEN || 'bhk_000000000000_bench-secret-key-for-the-hub-benchmark';
  open = (k) => {
    const ws = new WebSocket(url, { perMessageDeflate: DEFLATE });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: TOKEN })));
    ws.on('error', (e) => fail(k, e));
    ws.on('close', (code) => { if (ready) disc++; else fail(k, 'closed ' + code); });
    ws.on('message', (data) => {          // alerts start '{"ts":<float>,"seq":<int>,'; control: '{"type":...'
      if (data[2] === 0x74 && data[3] === 0x73) {   // '{"ts'
        const s = data.toString('latin1', 0, 48), j = s.indexOf(',"seq":');
        rec(k, parseFloat(s.slice(6, j)), parseInt(s.slice(j + 7), 10));
        return;
      }
      const m = JSON.parse(data.toString());
      if (m.type === 'ping') ws.send('{"type":"pong"}');
      else if (m.type === 'auth-ok') ws.send(JSON.stringify({ type: 'subscribe', topics: ['alerts'] }));
      else if (m.type === 'subscribed') opened1();
      else if (m.type === 'error') fail(k, m.code + ' ' + m.message);
    });
    socks.push(ws);
  };
} else if (mode === 'sioraw') {
  const WebSocket = require('ws');
  const u = url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';
  open = (k) => {
    const ws = new WebSocket(u, { perMessageDeflate: DEFLATE });
    let conn = false;
    ws.on('error', (e) => fail(k, e));
    ws.on('close', () => { if (ready) disc++; });
    ws.on('message', (data) => {
      const c0 = data[0], c1 = data[1];
      if (c0 === 0x34 && c1 === 0x32) {          // '42["face-detection-alert",{"ts":<f>,"seq":<i>,...'
        const s = data.toString('latin1', 0, 80), i = s.indexOf('{"ts":'), j = s.indexOf(',"seq":', i);
        rec(k, parseFloat(s.slice(i + 6, j)), parseInt(s.slice(j + 7), 10));
      } else if (c0 === 0x32) ws.send('3');       // engine.io ping -> pong
      else if (c0 === 0x30) ws.send('40');        // engine.io open -> socket.io CONNECT '/'
      else if (c0 === 0x34 && c1 === 0x30 && !conn) { conn = true; opened1(); }  // CONNECT ack
      else if (c0 === 0x34 && c1 === 0x34) fail(k, data.toString());           // CONNECT_ERROR
    });
    socks.push(ws);
  };
} else {
  const { io } = require('socket.io-client');
  open = (k) => {
    const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, perMessageDeflate: DEFLATE });
    s.once('connect', opened1);
    s.on('connect_error', (e) => fail(k, e));
    s.on('disconnect', () => { if (ready) disc++; });
    s.on('face-detection-alert', (m) => rec(k, m.ts, m.seq));
    socks.push(s);
  };
}
function launch() { while (inflight < CONC && next < COUNT) { inflight++; open(next++); } }
launch();
process.on('SIGUSR2', finish);
process.on('SIGTERM', () => process.exit(0));
