// mayfly controller [flags]: the operator, the webhook, the broker and the
// config stream in one process (see operator/src/main.ts for the flags).
import { main } from '@mayfly/operator/main';
import type { Command } from '../command.ts';

export const command: Command = (argv, io) => main(argv, { stdout: io.stdout, stderr: io.stderr, env: io.env });
