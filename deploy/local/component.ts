/** What each component of the local stack provides to the orchestrator (stack.ts). */
import type { GripConfig } from '../../services/runtime/config.ts';
import type { InstallContext } from './install.ts';
import type { ComponentName, StackPaths } from './paths.ts';
import type { SpawnSpec } from './supervisor.ts';

export interface Component {
  name: ComponentName;
  /** What a client is given: Kafka host:port, the registry's ccompat base URL, HTTP / OpenAI base URLs. */
  clientUrl(config: GripConfig): string;
  isInstalled(paths: StackPaths): boolean;
  /** Downloads, verifies and installs into paths.install(name); must leave no finished-looking partial state. */
  install(config: GripConfig, paths: StackPaths, ctx: InstallContext): Promise<void>;
  /** Writes config files, prepares storage, and says what to run. Runs before every start. */
  prepare(config: GripConfig, paths: StackPaths, ctx: InstallContext): Promise<SpawnSpec>;
  /** One quick probe (a few seconds at most). */
  health(config: GripConfig): Promise<boolean>;
  /** Runs once the component is healthy (e.g. enforce the registry's global compatibility). */
  afterStart?(config: GripConfig): Promise<void>;
  /** How long a start may take until healthy. */
  startTimeoutMs: number;
}
