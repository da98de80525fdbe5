import { catalogLayout } from '../../catalog/layout.js';
import { readIdentity } from '../../catalog/identity.js';
import { BarmanError } from '../../errors/index.js';
import { customWalCompression } from '../../wal/custom-compression.js';
import { putWalFromFile, putWalFromTar } from '../../wal/put-wal.js';
import { putWalSealing } from '../../wal/sealed-wal.js';
import { passphraseSourceOf } from '../../transfer/passphrase.js';
import { encryptionKeyOf } from '../../transfer/gpg.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';

interface Result {
  lines: string[];
  accepted: string[];
}

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const serverName = input.args.server_name as string;
    const [server] = selectServers(ctx, [serverName], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return { lines: [], accepted: [] };
    if (!server.config.active) throw new BarmanError('server-inactive', `Inactive server: ${serverName}`);
    if (input.options.test === true) {
      return { lines: [`Ready to accept WAL files for the server ${serverName}`], accepted: [] };
    }
    const layout = {
      ...(await catalogLayout(server.config)),
      ...(server.config.wals_directory.kind === 's3' ? { walsDirectory: null } : {}),
    };
    const custom = customWalCompression(server.config);
    // `encryption = gpg`: sealed before it is written, so incoming/ holds no plaintext WAL.
    encryptionKeyOf(server.config);
    const seal = putWalSealing(server.config);
    const sealing = seal && {
      ...seal,
      passphrase: passphraseSourceOf(server.config),
      systemIdentifier: (await readIdentity(layout.identityFile))?.systemid ?? null,
    };
    const file = input.options.file as string | undefined;
    const outcome =
      file !== undefined
        ? await putWalFromFile(file, layout, custom, sealing)
        : await putWalFromTar(process.stdin, layout, custom, sealing);
    ctx.log.info(`received ${outcome.accepted.join(', ')}`, { server: serverName });
    return { lines: [], accepted: outcome.accepted };
  },
  renderConsole: (result) => result.lines,
  // Barman 3.4 prints only the messages (`--test`'s line) under `_INFO`.
  renderJson: (result) => (result.lines.length > 0 ? { _INFO: result.lines } : null),
});
