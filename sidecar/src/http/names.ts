// Lowercase header names without a new string per header per request: the
// names a client sends repeat (Host, Accept, User-Agent, ...), so their
// lowercase forms are remembered in a bounded table. Also the token pattern
// that method and header names must match. Pure.
/** An RFC 9110 token: a method or a header name. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const MAX = 1024;
let table = new Map<string, string>();

export function lowerName(name: string): string {
  let lower = table.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (table.size >= MAX) table = new Map(); // a flood of odd names only costs recomputation
    table.set(name, lower);
  }
  return lower;
}
