// The sidecar benchmark's load generator (e2e/bench/sidecar-loadgen.ts), run as
// the benchmark runs it, against two real HTTP servers on loopback that note
// when each request arrives: the alternating mode must send to one target at a
// time, in the order A B B A, at the rate asked, and report each turn's
// latencies under the target that served them.
import t from 'tap';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';

const loadgen = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench', 'sidecar-loadgen.ts');

/** A server that notes arrivals; `fail(n)` may answer the n-th request (from 1) some other way. */
async function server(name: string, arrivals: Array<{ name: string; at: number }>, delayMs = 0, fail?: (n: number, res: http.ServerResponse) => boolean): Promise<{ port: number; close(): Promise<void> }> {
  let n = 0;
  const s = http.createServer((req, res) => {
    arrivals.push({ name, at: performance.now() });
    if (fail?.(++n, res)) return;
    setTimeout(() => res.writeHead(200, { 'content-length': '2' }).end('ok'), delayMs);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    port: (s.address() as AddressInfo).port,
    close: () => {
      s.closeAllConnections();
      return new Promise((r) => s.close(() => r()));
    },
  };
}

function run(opts: object): Promise<{ errors: number; failures: [string[], string[]]; blocks: [number[][], number[][]] }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [loadgen, JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (c) => (c === 0 ? resolve(JSON.parse(out)) : reject(new Error(`loadgen exited ${c}: ${err}`))));
  });
}

t.test('alternate: one target at a time, A B B A, each turn reported under its target', async (t) => {
  const arrivals: Array<{ name: string; at: number }> = [];
  // B answers 3 ms late, so its latencies are told apart from A's
  const a = await server('a', arrivals);
  const b = await server('b', arrivals, 3);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const end = (port: number) => ({ port, tls: false, servername: 'x', host: 'x', ca: '' });
  const rate = 200;
  const block = 0.3;
  const r = await run({ mode: 'alternate', rate, connections: 2, seconds: 0, warmup: 0.1, block, blocks: 4, targets: [end(a.port), end(b.port)] });

  t.equal(r.errors, 0);
  t.same(r.failures, [[], []]);
  t.equal(r.blocks[0].length, 4, 'four turns for A');
  t.equal(r.blocks[1].length, 4, 'four turns for B');
  for (const [i, turns] of r.blocks.entries())
    for (const turn of turns) {
      t.ok(Math.abs(turn.length - rate * block) <= 2, `target ${i}: a turn holds the requests of ${block} s at ${rate}/s (${turn.length})`);
      t.same(turn, [...turn].sort((x, y) => x - y), 'ascending');
    }
  const median = (turns: number[][]) => turns.flat().sort((x, y) => x - y)[Math.floor(turns.flat().length / 2)]!;
  t.ok(median(r.blocks[1]) >= 3, "B's latencies are B's (it answers 3 ms late)");
  t.ok(median(r.blocks[0]) < 3, "A's latencies are A's");

  // The arrivals after the warm-ups: runs of one target at a time, in the order A B B A A B B A.
  const counted = arrivals.slice(arrivals.length - r.blocks.flat().reduce((n, turn) => n + turn.length, 0));
  const runs: string[] = [];
  for (const x of counted) if (runs.at(-1) !== x.name) runs.push(x.name);
  t.same(runs, ['a', 'b', 'a', 'b', 'a'], 'turns never overlap: A, then B B, then A A, then B B, then A');
});

t.test('alternate: a failed request is counted under its target, with what went wrong', async (t) => {
  // A answers its 50th request with a 502; B drops the connection of its 60th
  const a = await server('a', [], 0, (n, res) => n === 50 && (res.writeHead(502, 'Bad Gateway', { 'content-length': '0' }).end(), true));
  const b = await server('b', [], 0, (n, res) => n === 60 && (res.socket?.destroy(), true));
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const end = (port: number) => ({ port, tls: false, servername: 'x', host: 'x', ca: '' });
  const r = await run({ mode: 'alternate', rate: 200, connections: 2, seconds: 0, warmup: 0.1, block: 0.3, blocks: 4, targets: [end(a.port), end(b.port)] });
  t.equal(r.errors, 2);
  t.same(r.failures, [['HTTP/1.1 502 Bad Gateway'], ['connection closed before the response']]);
});

t.test('alternate: refuses to run without two targets and a block size', async (t) => {
  await t.rejects(run({ mode: 'alternate', rate: 10, connections: 1, seconds: 0, block: 0.1, blocks: 1, targets: [] }), /two targets/);
});
