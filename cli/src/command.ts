// The shape of every `mayfly` sub-command: arguments and I/O in, exit code out.
// Commands read nothing global, so tests can run them in-process.
export interface CommandIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** The only place a command may read the environment from. */
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export type Command = (argv: string[], io: CommandIO) => Promise<number>;

/** Reads a file argument, or standard input for "-". */
export async function readInput(file: string, cwd: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const { resolve } = await import('node:path');
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  return readFile(resolve(cwd, file), 'utf8');
}
