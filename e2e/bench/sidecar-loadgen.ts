// A small load generator: keep-alive connections issuing GETs, either at a
// fixed rate (latency measured from the intended send time, so a stall is not
// hidden: no coordinated omission) or as fast as they can (saturation), or one
// new TLS connection per request (handshakes/s). Prints one JSON line.
// At a fixed rate, `warmup` seconds at the same rate on the same connections
// come first and are not counted; the line `measuring` on stdout marks where
// the counted seconds begin, so a caller can sample CPU from there.
// `alternate` measures two targets at the fixed rate in turn, in blocks of
// `block` seconds (A B B A A B ...), `blocks` for each, on connections to both
// kept open throughout: adjacent blocks meet the machine in nearly the same
// state, so what differs between the targets' latencies is theirs, not the
// machine's. It prints every block's latencies, for a paired comparison.
// usage: node sidecar-loadgen.ts JSON({ mode, port, tls, servername, host, ca, seconds, rate, connections, warmup?, samples?, targets?, block?, blocks? })
import net from 'node:net';
import tls from 'node:tls';

interface Target { port: number; tls: boolean; servername: string; host: string; ca: string }
interface Opts extends Target { mode: 'fixed' | 'saturate' | 'handshake' | 'alternate'; seconds: number; rate: number; connections: number; warmup?: number; samples?: boolean; targets?: [Target, Target]; block?: number; blocks?: number }
const o = JSON.parse(process.argv[2] as string) as Opts;
const requestFor = (t: Target) => Buffer.from(`GET /v1/charges HTTP/1.1\r\nHost: ${t.host}\r\nAccept: application/json\r\n\r\n`);
const latencies: number[] = [];
let errors = 0;
/** What went wrong with each failed request, by target: a status line other than 200, or the connection lost before the response. */
const failures = new Map<Target, string[]>();
function failed(c: Conn): void {
  errors++;
  const kinds = failures.get(c.target) ?? [];
  kinds.push(c.failure);
  failures.set(c.target, kinds);
}
let done = 0;

function connect(t: Target): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = t.tls ? tls.connect({ host: '127.0.0.1', port: t.port, servername: t.servername, ca: t.ca, ALPNProtocols: ['http/1.1'] }) : net.connect({ host: '127.0.0.1', port: t.port });
    s.setNoDelay(true);
    s.once(t.tls ? 'secureConnect' : 'connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** One connection that sends a request when told and resolves when a full response arrived. */
class Conn {
  socket: net.Socket;
  target: Target;
  request: Buffer;
  buf = '';
  waiting: ((ok: boolean) => void) | null = null;
  failure = '';
  constructor(target: Target, socket: net.Socket) {
    this.target = target;
    this.request = requestFor(target);
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: *(\d+)/i.exec(this.buf.slice(0, end))?.[1] ?? 0);
      if (this.buf.length < end + 4 + len) return;
      const ok = this.buf.startsWith('HTTP/1.1 200');
      if (!ok) this.failure = this.buf.slice(0, this.buf.indexOf('\r\n'));
      this.buf = this.buf.slice(end + 4 + len);
      const w = this.waiting;
      this.waiting = null;
      w?.(ok);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.failure = `socket error ${err.code ?? err.message}`;
      this.waiting?.(false);
    });
    socket.on('close', () => {
      this.dead = true;
      if (this.waiting) this.failure ||= 'connection closed before the response';
      const w = this.waiting;
      this.waiting = null;
      w?.(false);
    });
  }
  dead = false;
  /** A replacement when the server closed this connection. */
  async revive(): Promise<Conn> {
    return this.dead ? new Conn(this.target, await connect(this.target)) : this;
  }
  send(): Promise<boolean> {
    return new Promise((r) => {
      this.failure = '';
      this.waiting = r;
      this.socket.write(this.request);
    });
  }
}

/**
 * `connections` at `o.rate` requests/s in all: `warmupMs` of requests sent and
 * not counted, then `measureMs` whose latencies (from each request's intended
 * send time) are returned; `onMeasure` is called where the counted part
 * begins. Returns once every request has been answered.
 */
async function fixedRate(conns: Conn[], warmupMs: number, measureMs: number, onMeasure?: () => void): Promise<number[]> {
  const counted: number[] = [];
  const interval = 1000 / o.rate;
  const idle = [...conns];
  const queue: number[] = [];
  const start = performance.now();
  let next = start;
  // requests meant to be sent before this are the warm-up: sent, not counted
  const measureFrom = start + warmupMs;
  const end = measureFrom + measureMs;
  let measuring = false;
  const pump = (): void => {
    while (idle.length > 0 && queue.length > 0) {
      const c0 = idle.pop() as Conn;
      const intended = queue.shift() as number;
      void c0.revive().then(async (c) => {
        if (!(await c.send())) failed(c);
        if (intended >= measureFrom) counted.push(performance.now() - intended);
        idle.push(c);
        pump();
      });
    }
  };
  while (performance.now() < end) {
    const now = performance.now();
    if (!measuring && now >= measureFrom) {
      measuring = true;
      onMeasure?.();
    }
    while (next <= now && next < end) {
      queue.push(next);
      next += interval;
    }
    pump();
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  while (idle.length < conns.length) await new Promise((r) => setTimeout(r, 5));
  return counted;
}

const open = (t: Target): Promise<Conn[]> => Promise.all(Array.from({ length: o.connections }, async () => new Conn(t, await connect(t))));
const micros = (xs: number[]): number[] => xs.map((l) => Math.round(l * 1000) / 1000);

if (o.mode === 'alternate') {
  const targets = o.targets ?? [];
  if (targets.length !== 2 || !(Number(o.block) > 0) || !(Number(o.blocks) > 0)) throw new Error('alternate needs two targets, block and blocks');
  const sets = await Promise.all(targets.map(open));
  for (const set of sets) {
    await Promise.all(set.map((c) => c.send()));
    await fixedRate(set, (o.warmup ?? 0) * 1000, 0);
  }
  const blocks: number[][][] = [[], []];
  for (let pair = 0; pair < o.blocks!; pair++) {
    // A B, then B A: each target goes first as often as the other
    for (const i of pair % 2 ? [1, 0] : [0, 1]) blocks[i]!.push(micros((await fixedRate(sets[i]!, 0, o.block! * 1000)).sort((a, b) => a - b)));
  }
  for (const set of sets) for (const c of set) c.socket.destroy();
  // exit once the line is out: a pipe takes a write this large in parts
  process.stdout.write(`${JSON.stringify({ errors, failures: targets.map((t) => failures.get(t) ?? []), blocks })}\n`, () => process.exit(0));
  await new Promise(() => {});
}

const deadline = performance.now() + o.seconds * 1000;
if (o.mode === 'handshake') {
  const workers = Array.from({ length: o.connections }, async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const c = new Conn(o, await connect(o));
        if (!(await c.send())) failed(c);
        c.socket.destroy();
        latencies.push(performance.now() - t0);
        done++;
      } catch {
        errors++;
      }
    }
  });
  await Promise.all(workers);
} else {
  const conns = await open(o);
  // warm up each connection once
  await Promise.all(conns.map((c) => c.send()));
  if (o.mode === 'saturate') {
    await Promise.all(
      conns.map(async (c) => {
        while (performance.now() < deadline) {
          c = await c.revive();
          const t0 = performance.now();
          if (!(await c.send())) failed(c);
          latencies.push(performance.now() - t0);
          done++;
        }
      }),
    );
  } else {
    const counted = await fixedRate(conns, (o.warmup ?? 0) * 1000, o.seconds * 1000, () => {
      if (o.warmup !== undefined) process.stdout.write('measuring\n');
    });
    latencies.push(...counted);
    done = counted.length;
  }
  for (const c of conns) c.socket.destroy();
}
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? NaN;
// with `samples`, every counted latency too (in ms, to the microsecond), so a caller can pool runs
const samples = o.samples ? micros(latencies) : undefined;
process.stdout.write(`${JSON.stringify({ rps: done / o.seconds, p50: pct(50), p99: pct(99), errors, n: done, ...(samples ? { samples } : {}) })}\n`);
