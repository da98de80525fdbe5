/**
 * A mirror (`mirror_of = SOURCE`): a server section whose catalogue is a second copy of another
 * server's of the same barman.conf, in a location of its own and possibly of another kind (a
 * directory or s3://). It never connects to PostgreSQL; `cron` copies into it (sync.ts).
 */
import type { BarmanConfig, ServerConfig } from '../../../config/index.js';
import { BarmanError } from '../../../errors/index.js';

export interface MirrorConfig extends ServerConfig {
  mirror_of: string;
}

export function isMirror(config: ServerConfig): config is MirrorConfig {
  return typeof config.mirror_of === 'string' && config.mirror_of.length > 0;
}

/** The source server's configuration (the configuration rules refuse an unknown or disabled one). */
export function mirrorSource(barman: BarmanConfig, config: MirrorConfig): ServerConfig {
  const source = barman.servers.get(config.mirror_of);
  if (!source || source.disabled)
    throw new BarmanError(
      'mirror-source-unusable',
      `server ${config.name} mirrors '${config.mirror_of}', which is ${source ? 'disabled by configuration errors' : 'not a server of this configuration'}`,
      {
        hint: `Fix the [${config.mirror_of}] section (barman check ${config.mirror_of}), or mirror_of in [${config.name}].`,
      },
    );
  return source.config;
}
