// The resolver: one lookup per name per TTL, and every address checked before
// one is handed back to dial.
import t from 'tap';
import { createResolver, ResolveError, type Lookup } from '../../src/net/resolve.ts';

function setup(answers: Record<string, string[]>) {
  let now = 1_000_000;
  const asked: string[] = [];
  const lookup: Lookup = async (host) => {
    asked.push(host);
    const list = answers[host];
    if (!list) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  const resolver = createResolver(lookup, 5000, () => now);
  return { resolver, asked, advance: (ms: number) => (now += ms) };
}

t.test('a name is looked up once per TTL', async (t) => {
  const { resolver, asked, advance } = setup({ 'api.example.com': ['203.0.113.7', '203.0.113.8'] });
  t.equal(await resolver.resolve('api.example.com', false), '203.0.113.7', 'the first address');
  advance(4999);
  t.equal(await resolver.resolve('api.example.com', false), '203.0.113.7');
  t.same(asked, ['api.example.com'], 'one lookup within the TTL');
  advance(1);
  await resolver.resolve('api.example.com', false);
  t.same(asked, ['api.example.com', 'api.example.com'], 'looked up again after the TTL');
});

t.test('every address must be dialable, from the cache as from a lookup', async (t) => {
  const { resolver, asked } = setup({ 'mixed.example.com': ['203.0.113.7', '169.254.169.254'], 'internal.example.com': ['10.0.0.5'] });
  await t.rejects(resolver.resolve('mixed.example.com', true), { code: 'ERR_ADDRESS_FORBIDDEN', addressClass: 'link-local' }, 'one public and one link-local (metadata) address: refused');
  await t.rejects(resolver.resolve('mixed.example.com', true), ResolveError, 'and refused again from the cache');
  t.same(asked, ['mixed.example.com']);

  await t.rejects(resolver.resolve('internal.example.com', false), { code: 'ERR_ADDRESS_FORBIDDEN' }, 'a private address without allowPrivateAddresses');
  t.equal(await resolver.resolve('internal.example.com', true), '10.0.0.5', 'allowed when the destination opts in');
  await t.rejects(resolver.resolve('internal.example.com', false), { code: 'ERR_ADDRESS_FORBIDDEN' }, 'the check is per call, not per cache entry');
});

t.test('IP literals are not looked up; names that do not resolve are not cached', async (t) => {
  const { resolver, asked } = setup({});
  t.equal(await resolver.resolve('203.0.113.9', false), '203.0.113.9');
  await t.rejects(resolver.resolve('127.0.0.1', true), { code: 'ERR_ADDRESS_FORBIDDEN', addressClass: 'loopback' }, 'loopback is never dialled');
  await t.rejects(resolver.resolve('nowhere.example.com', true), { code: 'ERR_RESOLVE' });
  await t.rejects(resolver.resolve('nowhere.example.com', true), { code: 'ERR_RESOLVE' });
  t.same(asked, ['nowhere.example.com', 'nowhere.example.com'], 'a failed lookup is tried again');
});
