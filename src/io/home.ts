/** The per-user cache folder: the engine's Python environments and the decoded-image cache live under it. */
import * as os from 'node:os';
import * as path from 'node:path';

/** DISTILLERY_HOME, else $XDG_CACHE_HOME/distillery, else ~/.cache/distillery. */
export function distilleryHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DISTILLERY_HOME) return path.resolve(env.DISTILLERY_HOME);
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'distillery');
  return path.join(envValue(env, 'HOME') ?? os.homedir(), '.cache', 'distillery');
}

/** An environment variable's value, or undefined when it is unset or empty (an empty variable counts as unset). */
export function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === '' ? undefined : value;
}
