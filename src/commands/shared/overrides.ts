/**
 * Command-line values of configuration options (`--jobs`, `--bwlimit`, `--retry-times`,
 * `--network-compression` …) take precedence over every configuration file: a server's
 * configuration as the command must use it.
 */
import type { ServerConfig } from '../../config/index.js';

export function withOverrides(
  config: ServerConfig,
  overrides: Readonly<Record<string, unknown>>,
): ServerConfig {
  const effective: Record<string, unknown> = { ...config };
  for (const [key, value] of Object.entries(overrides)) {
    if (key in config && value !== undefined) effective[key] = value;
  }
  return effective as unknown as ServerConfig;
}
