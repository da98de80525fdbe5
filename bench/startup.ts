/**
 * `npm run bench:startup`: median wall time of `barman --version` and `barman list-server`
 * against `node -e 0` (the floor of any Node program). It matters because PostgreSQL's
 * archive_command starts barman once per WAL segment.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const barmanBin = fileURLToPath(new URL('../../bin/barman.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'barman-ts-bench-'));
const config = join(dir, 'barman.conf');
writeFileSync(
  config,
  `[barman]\nbarman_user = ${userInfo().username}\nbarman_home = ${dir}/home\nlog_file = ${dir}/barman.log\n\n` +
    Array.from(
      { length: 10 },
      (_, i) =>
        `[pg${i}]\nconninfo = host=pg${i} user=barman dbname=postgres\nssh_command = ssh postgres@pg${i}\narchiver = on\n`,
    ).join('\n'),
);

// Like PostgreSQL's archive_command environment: no NODE_EXTRA_CA_CERTS (it costs ~50 ms a start).
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function measure(args: string[]): number {
  const times: number[] = [];
  spawnSync(process.execPath, args, { env }); // warm the page cache
  for (let i = 0; i < RUNS; i += 1) {
    const start = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${String(result.stderr)}`);
  }
  return median(times);
}

const floor = measure(['-e', '0']);
const rows: Array<[string, number]> = [
  ['node -e 0', floor],
  ['barman --version', measure([barmanBin, '--version'])],
  ['barman list-server (10 servers)', measure([barmanBin, '-c', config, 'list-server'])],
];
rmSync(dir, { recursive: true, force: true });

console.log(`median of ${RUNS} runs each (${process.version}, ${new Date().toISOString()})`);
for (const [name, ms] of rows) {
  console.log(`${name.padEnd(34)} ${ms.toFixed(1).padStart(7)} ms   ${(ms / floor).toFixed(2)}x node`);
}
