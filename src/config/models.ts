/**
 * Configuration models (Barman 3.10+): a section with `model = true` and `cluster = NAME` holds
 * option values that `config-switch` lays over the servers of that cluster, e.g. the conninfo of
 * whichever node is the primary after a failover. The active model's name is kept, as Barman
 * keeps it, in `<backup_directory>/.active-model.auto` (the bare name, no newline), so Barman and
 * barman-ts read the same switch. A model is applied after the server's values are resolved, as
 * Barman does: an option the model does not set keeps the server's value, even one derived
 * from an overridden option (streaming_conninfo defaults to the server's conninfo, not the
 * model's), so a model for a failover sets both.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigProblem } from './problems.js';
import { formatProblem } from './problems.js';
import type { ModelEntry, ServerEntry, ValueSource } from './types.js';

/** Barman's file (in backup_directory) naming the model config-switch applied to a server. */
export const ACTIVE_MODEL_FILE = '.active-model.auto';

/** Options of a model section that say what it is, never laid over a server. */
const MODEL_IDENTITY = new Set(['model', 'cluster']);

export function activeModelFile(backupDirectory: string): string {
  return join(backupDirectory, ACTIVE_MODEL_FILE);
}

/** The model name written by config-switch, or null (no file, or an empty one, as Barman). */
export function readActiveModelName(backupDirectory: string): string | null {
  let text: string;
  try {
    text = readFileSync(activeModelFile(backupDirectory), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const name = text.trim();
  return name === '' ? null : name;
}

/** The options a model lays over a server: those it sets, except `model`, `cluster` and `None`s. */
export function modelOverrides(model: ModelEntry): [string, unknown][] {
  return Object.entries(model.options).filter(
    ([key, value]) => !MODEL_IDENTITY.has(key) && value !== null && value !== undefined,
  );
}

/** Why `model` cannot be applied to a server of `cluster`, or null when it can. */
export function modelRefusal(model: ModelEntry, serverName: string, cluster: unknown): string | null {
  if (model.cluster !== cluster) {
    return `Model '${model.name}' has 'cluster=${model.cluster ?? 'None'}', which is not compatible with 'cluster=${String(cluster)}' from server '${serverName}'`;
  }
  const errors = model.problems.filter((problem) => problem.severity === 'error');
  if (errors.length > 0) {
    return `Model '${model.name}' has configuration errors: ${errors.map(formatProblem).join('; ')}`;
  }
  return null;
}

export interface AppliedModel {
  activeModel: string | null;
  problems: ConfigProblem[];
  sources: Record<string, ValueSource>;
}

/**
 * Lays the server's active model (if any) over `values` (changed in place). A missing model, one
 * of another cluster or one with errors disables the server: its values would not be the ones the
 * operator switched to.
 */
export function applyActiveModel(
  serverName: string,
  values: Record<string, unknown>,
  models: ReadonlyMap<string, ModelEntry>,
): AppliedModel {
  const applied: AppliedModel = { activeModel: null, problems: [], sources: {} };
  if (typeof values.backup_directory !== 'string') return applied;
  const file = activeModelFile(values.backup_directory);
  let name: string | null;
  try {
    name = readActiveModelName(values.backup_directory);
  } catch (error) {
    applied.problems.push({
      severity: 'error',
      message: `cannot read the active model file ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      section: serverName,
    });
    return applied;
  }
  if (name === null) return applied;
  applied.activeModel = name;
  const model = models.get(name);
  const refusal = model
    ? modelRefusal(model, serverName, values.cluster)
    : `Model '${name}' is set as the active model for the server '${serverName}' but the model does not exist`;
  if (refusal !== null || !model) {
    applied.problems.push({
      severity: 'error',
      message: `${refusal}: fix the model, or run 'barman config-switch ${serverName} --reset' (${file})`,
      section: serverName,
    });
    return applied;
  }
  for (const [key, value] of modelOverrides(model)) {
    values[key] = value;
    const source = model.sources[key];
    if (source?.kind === 'file') applied.sources[key] = { ...source, kind: 'model', model: model.name };
  }
  return applied;
}

/** A model whose cluster no server belongs to can never be applied: say so where it is written. */
export function orphanModelProblems(
  models: ReadonlyMap<string, ModelEntry>,
  servers: ReadonlyMap<string, ServerEntry>,
): Map<string, ConfigProblem[]> {
  const clusters = new Set([...servers.values()].map((server) => server.config.cluster));
  const found = new Map<string, ConfigProblem[]>();
  for (const model of models.values()) {
    if (model.cluster === null || clusters.has(model.cluster)) continue;
    const source = model.sources.cluster;
    found.set(model.name, [
      {
        severity: 'error',
        message: `no server has 'cluster = ${model.cluster}' (a server's cluster defaults to its name): set the cluster of the servers this model is for, or correct the model's`,
        ...(source?.kind === 'file' ? { file: source.file, line: source.line } : {}),
        section: model.name,
        option: 'cluster',
      },
    ]);
  }
  return found;
}
