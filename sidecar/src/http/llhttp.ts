// Node's own HTTP/1 parser (llhttp, the parser behind node:http), reached
// through the undocumented `_http_common` module. The sidecar parses both the
// app's requests (server/http1.ts) and the upstreams' responses
// (pipeline/upstream-connection.ts) with it. The binding's shape is checked
// when this module loads, so a Node.js without it fails at start-up, loudly.

export interface NodeHttpParser {
  [callback: number]: unknown;
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  /**
   * Deletes the native parser. Without it (`free()` alone, which is for
   * parsers kept in a pool) the native side keeps its JS object, the callbacks
   * and everything they reach alive: about 7 KiB of native memory per parser,
   * plus the connection (measured). Never called from inside `execute()`.
   */
  close(): void;
}

export interface NodeHttpParserClass {
  new (): NodeHttpParser;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kLenientNone: number;
}

const common = process.getBuiltinModule('_http_common') as unknown as { HTTPParser?: NodeHttpParserClass; methods?: string[] };
const parser = common.HTTPParser;
if (
  typeof parser?.kOnHeadersComplete !== 'number' ||
  typeof parser.kOnMessageBegin !== 'number' ||
  typeof parser.REQUEST !== 'number' ||
  typeof parser.RESPONSE !== 'number' ||
  !Array.isArray(common.methods) ||
  common.methods[5] !== 'CONNECT'
) {
  throw new Error(`this Node.js (${process.version}) has no HTTP parser binding in _http_common; the sidecar needs Node.js 24`);
}

export const HTTPParser: NodeHttpParserClass = parser;
/** Method names by the parser's method number. */
export const METHODS: readonly string[] = common.methods;
