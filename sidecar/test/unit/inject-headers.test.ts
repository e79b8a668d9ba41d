import t from 'tap';
import { forwardRequestHeaders, forwardResponseHeaders, strippedNames } from '../../src/http/headers.ts';
import { injectCredential, removeQueryParameter } from '../../src/http/inject.ts';
import { classifyAddress, dialable } from '../../src/net/addresses.ts';

const cred = { value: 'sk_live_1', id: 'c1', expiresAt: Date.now() + 60_000 };

t.test('strip removes what only the sidecar may set, and what Connection names', async (t) => {
  const raw = ['Host', 'a', 'Authorization', 'Bearer app', 'X-Api-Key', 'k', 'X-Amz-Date', 'd', 'X-Forwarded-Client-Cert', 'x', 'Connection', 'keep-alive, X-Keep', 'X-Keep', 'v', 'Accept', '*/*', 'Transfer-Encoding', 'chunked', 'traceparent', '00-abc'];
  t.same(forwardRequestHeaders(raw, { strip: true, injectedHeader: 'x-custom' }), [['Accept', '*/*'], ['traceparent', '00-abc']]);
  t.same(forwardRequestHeaders(raw, { strip: false, injectedHeader: null }).map(([k]) => k), ['Authorization', 'X-Api-Key', 'X-Amz-Date', 'X-Forwarded-Client-Cert', 'Accept', 'traceparent'], 'pass-through keeps the app headers but never hop-by-hop ones');
  t.same(forwardRequestHeaders(['Host', 'a', 'X-Custom', 'app-value'], { strip: true, injectedHeader: 'x-custom' }), [], 'the injected header name is stripped too');
  t.same(forwardResponseHeaders(['Content-Type', 'text/plain', 'Connection', 'close, X-Secret', 'X-Secret', '1', 'Keep-Alive', 't=5']), [['Content-Type', 'text/plain']]);
});

t.test('on a SigV4 route only the signature headers are stripped; the other x-amz-* are signed again', async (t) => {
  const raw = ['Host', 'a', 'Authorization', 'AWS4-HMAC-SHA256 Credential=PLACEHOLDER/...', 'X-Amz-Date', 'd', 'X-Amz-Security-Token', 'app', 'X-Amz-Content-Sha256', 'UNSIGNED-PAYLOAD', 'X-Amz-Meta-Owner', 'p', 'X-Amz-Target', 'T', 'X-Api-Key', 'k', 'X-Mayfly-Id', 'm'];
  t.same(forwardRequestHeaders(raw, { strip: true, injectedHeader: 'authorization', signing: true }), [['X-Amz-Content-Sha256', 'UNSIGNED-PAYLOAD'], ['X-Amz-Meta-Owner', 'p'], ['X-Amz-Target', 'T']]);
  t.same(strippedNames(raw, 'authorization', true), ['authorization', 'x-amz-date', 'x-amz-security-token', 'x-api-key', 'x-mayfly-id']);
  t.same(forwardRequestHeaders(raw, { strip: true, injectedHeader: 'x-custom' }), [], 'on any other credentialed route every x-amz-* is stripped');
});

t.test('header, query and basic injection', async (t) => {
  t.same(injectCredential({ kind: 'header', header: 'Authorization', format: 'Bearer {{token}}' }, cred, 'a=1'), { headers: [['Authorization', 'Bearer sk_live_1']], query: 'a=1' });
  t.same(injectCredential({ kind: 'query', parameter: 'api_key' }, cred, 'api_key=app&a=1&api%5Fkey=x'), { headers: [], query: 'a=1&api_key=sk_live_1' });
  t.same(injectCredential({ kind: 'query', parameter: 'key' }, { ...cred, value: 'a&b=c' }, null), { headers: [], query: 'key=a%26b%3Dc' }, 'the value is encoded');
  t.same(injectCredential({ kind: 'basic', username: 'u' }, cred, null).headers, [['Authorization', `Basic ${Buffer.from('u:sk_live_1').toString('base64')}`]]);
  t.equal(removeQueryParameter('key=1', 'key'), null);
});

t.test('CR, LF or NUL from a provider never reaches a header', async (t) => {
  for (const value of ['a\r\nX-Evil: 1', 'a\nb', 'a\0b']) {
    t.throws(() => injectCredential({ kind: 'header', header: 'Authorization', format: 'Bearer {{token}}' }, { ...cred, value }, null), { code: 'ERR_CREDENTIAL_INVALID' });
  }
  t.throws(() => injectCredential({ kind: 'header', header: 'Authorization', format: 'Bearer {{token}}\r\nX: y' }, cred, null), { code: 'ERR_CREDENTIAL_INVALID' }, 'nor from a policy format');
});

t.test('address classes, including embedded and odd encodings', async (t) => {
  t.equal(classifyAddress('169.254.169.254'), 'link-local');
  t.equal(classifyAddress('::ffff:169.254.169.254'), 'link-local');
  t.equal(classifyAddress('::ffff:a9fe:a9fe'), 'link-local');
  t.equal(classifyAddress('64:ff9b::a9fe:a9fe'), 'link-local');
  t.equal(classifyAddress('fd00:ec2::254'), 'link-local');
  t.equal(classifyAddress('127.1.2.3'), 'loopback');
  t.equal(classifyAddress('::1'), 'loopback');
  t.equal(classifyAddress('0.0.0.0'), 'unspecified');
  t.equal(classifyAddress('10.1.2.3'), 'private');
  t.equal(classifyAddress('fd12::1'), 'private');
  t.equal(classifyAddress('203.0.113.7'), 'public');
  t.ok(dialable('10.0.0.1', true).ok);
  t.notOk(dialable('10.0.0.1', false).ok);
  t.notOk(dialable('169.254.169.254', true).ok, 'link-local even when private is allowed');
  t.notOk(dialable('127.0.0.1', true).ok);
});
