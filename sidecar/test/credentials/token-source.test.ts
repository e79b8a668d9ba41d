// The token source against files laid out the way the kubelet's AtomicWriter
// writes projected volumes: a timestamped directory, a `..data` symlink to it,
// and per-entry symlinks through `..data`, swapped atomically on rotation.
import t from 'tap';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileTokenSource, decodeExpiry } from '../../src/credentials/token-source.ts';
import { sanitizeAudience, tokenPath, tokenRelativePath } from '../../src/credentials/token-paths.ts';
import { CredentialError } from '../../src/contracts.ts';

function jwt(payload: Record<string, unknown>): string {
  const b = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b({ alg: 'RS256', kid: 'k' })}.${b(payload)}.c2ln`;
}

let generation = 0;
/** Writes `tokens` (audience -> content) the way AtomicWriter does and swaps `..data`. */
function kubeletWrite(dir: string, tokens: Record<string, string>): void {
  generation += 1;
  const ts = `..2026_11_22_21_00_00.${generation}`;
  for (const [aud, content] of Object.entries(tokens)) {
    mkdirSync(join(dir, ts, sanitizeAudience(aud)), { recursive: true });
    writeFileSync(join(dir, ts, tokenRelativePath(aud)), content);
  }
  symlinkSync(ts, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const aud of Object.keys(tokens)) {
    try {
      symlinkSync(join('..data', sanitizeAudience(aud)), join(dir, sanitizeAudience(aud)));
    } catch {
      // already linked through ..data
    }
  }
}

t.test('token paths are distinct per audience and safe as path segments', async (t) => {
  const auds = ['mayfly', 'Mayfly', 'api://AzureADTokenExchange', '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/r', 'sts.amazonaws.com', '../../etc'];
  const names = auds.map(sanitizeAudience);
  t.equal(new Set(names).size, auds.length, 'no two audiences share a directory');
  for (const n of names) t.match(n, /^[a-z0-9][a-z0-9-]*$/, `${n} is a plain segment`);
  t.match(sanitizeAudience('mayfly'), /^mayfly-[0-9a-f]{8}$/);
  t.equal(tokenPath('/run/tokens/', 'mayfly'), `/run/tokens/${sanitizeAudience('mayfly')}/token`);
  t.throws(() => sanitizeAudience(''));
});

t.test('decodeExpiry reads exp and refuses malformed tokens', async (t) => {
  t.equal(decodeExpiry(jwt({ exp: 1000 })), 1_000_000);
  t.throws(() => decodeExpiry('a.b'));
  t.throws(() => decodeExpiry(jwt({ exp: '1000' })));
  t.throws(() => decodeExpiry(jwt({})));
});

for (const watch of [true, false]) {
  t.test(`reads tokens and notices kubelet rotation (watch: ${watch})`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mayfly-tokens-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    let now = 1_000_000_000_000;
    const exp = (s: number) => Math.floor(now / 1000) + s;
    const first = jwt({ exp: exp(3600), n: 1 });
    kubeletWrite(dir, { mayfly: first, 'sts.amazonaws.com': jwt({ exp: exp(3600), aws: true }) });
    const source = createFileTokenSource({ dir, now: () => now, watch });
    t.teardown(() => source.close());

    t.equal((await source.read('mayfly')).value, first);
    t.equal((await source.read('mayfly')).expiresAt, exp(3600) * 1000);
    t.match((await source.read('sts.amazonaws.com')).value, /\./);

    const second = jwt({ exp: exp(7200), n: 2 });
    kubeletWrite(dir, { mayfly: second, 'sts.amazonaws.com': jwt({ exp: exp(7200) }) });
    t.equal((await source.read('mayfly')).value, second, 'the rotated token is read, not the cached one');

    now += 7200 * 1000;
    await t.rejects(source.read('mayfly'), { code: 'ERR_NO_TOKEN', message: 'projected token expired' }, 'an expired token is never presented');
  });
}

t.test('missing, malformed and nearly expired tokens are ERR_NO_TOKEN', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mayfly-tokens-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const now = 2_000_000_000_000;
  kubeletWrite(dir, { bad: 'not-a-jwt', soon: jwt({ exp: now / 1000 + 2 }) });
  const source = createFileTokenSource({ dir, now: () => now });
  t.teardown(() => source.close());
  const err = await source.read('absent').catch((e: unknown) => e);
  t.ok(err instanceof CredentialError);
  t.match(err, { code: 'ERR_NO_TOKEN', message: 'projected token missing' });
  await t.rejects(source.read('bad'), { code: 'ERR_NO_TOKEN', message: 'projected token malformed' });
  await t.rejects(source.read('soon'), { code: 'ERR_NO_TOKEN', message: 'projected token expired' }, 'less than the margin left counts as expired');
});

t.test('a token directory that does not exist yet works once the kubelet writes it', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'mayfly-tokens-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const dir = join(base, 'later');
  const source = createFileTokenSource({ dir, now: () => 0 });
  t.teardown(() => source.close());
  await t.rejects(source.read('mayfly'), { code: 'ERR_NO_TOKEN' });
  mkdirSync(dir);
  const token = jwt({ exp: 3600 });
  kubeletWrite(dir, { mayfly: token });
  t.equal((await source.read('mayfly')).value, token);
});
