export { startControlPlane, ensureBinaries, type ControlPlane, type ControlPlaneOptions } from './control-plane.ts';
export { createCA, serviceAccountKeys, type CertificateAuthority, type KeyPair } from './pki.ts';
export { run, startDaemon, waitFor, freePort, tailLog, type Daemon, type RunResult } from './proc.ts';
