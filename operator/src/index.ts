export { main, type MainIO } from './main.ts';
export { runController, type RunningController, type RunOptions } from './run.ts';
export { loadConfig, ConfigError, CONFIG_SCHEMA, DEFAULTS, type ControllerConfig } from './config.ts';
export { compileRaw, CompiledCache, grants } from './policies/compiled-cache.ts';
export { WorkQueue } from './machinery/queue.ts';
export { LeaderElector, decide } from './machinery/leader-election.ts';
export { InformerSupervisor } from './machinery/supervisor.ts';
export { FakeClock, realClock, type Clock } from './machinery/clock.ts';
