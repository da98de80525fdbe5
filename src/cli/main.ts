/**
 * The CLI boundary: parse argv, load the configuration, become barman_user, open the log, run
 * one command, render its result, and turn every outcome into an exit code. Nothing below
 * prints or exits on its own.
 */
import { dirname } from 'node:path';
import type { CommandContext, CommandDefinition, CommandModule } from '../commands/definition.js';
import { ALL_COMMANDS } from './all-commands.js';
import type { BarmanConfig } from '../config/index.js';
import { formatProblem, loadConfig } from '../config/index.js';
import { describeError, isBarmanError } from '../errors/index.js';
import { fromSystemError, isSystemError } from '../errors/system.js';
import type { FileLogger, Logger, LogLevel } from '../log/index.js';
import { openFileLogger, preloadFileLogger, silentLogger } from '../log/index.js';
import type { ColorMode } from '../output/format.js';
import { jsonDocument, pythonJson } from '../output/json.js';
import { redactSecrets } from '../util/redact.js';
import { barmanTsVersion } from '../util/version.js';
import { ConsoleReporter } from './console-reporter.js';
import { checkOptionValues } from './option-values.js';
import type { ParseOutcome, ParsedInvocation } from './program.js';
import { parseQuickCommandLine } from './quick-argv.js';
import { switchToBarmanUser } from './run-as.js';

const write = {
  out: (text: string) => void process.stdout.write(text),
  err: (text: string) => void process.stderr.write(text),
};

/** Runs the barman CLI; `commands` defaults to the registry (tests pass their own). */
export async function main(
  argv: readonly string[],
  commands: readonly CommandDefinition[] = ALL_COMMANDS,
): Promise<number> {
  const version = barmanTsVersion();
  let outcome: ParseOutcome;
  try {
    const quick = parseQuickCommandLine(argv, commands);
    // commander (and the whole option table) is loaded only for what the quick parser declines.
    outcome = quick
      ? { kind: 'run', invocation: quick }
      : (await import('./program.js')).parseCommandLine(argv, commands, version, write);
  } catch (error) {
    write.err(`ERROR: ${describeError(error)}\n`);
    return 2;
  }
  if (outcome.kind === 'exit') return outcome.exitCode;
  try {
    checkOptionValues(outcome.invocation.definition, outcome.invocation.options);
  } catch (error) {
    write.err(`ERROR: ${describeError(error)}\n`);
    return 2;
  }
  return execute(outcome.invocation, version);
}

async function execute(invocation: ParsedInvocation, version: string): Promise<number> {
  const { definition, globals } = invocation;
  const format = definition.alwaysJson ? 'json' : globals.format;
  const color = useColor(globals.color ?? globals.colour ?? 'auto');
  let logger: Logger = silentLogger;
  let fileLogger: FileLogger | undefined;
  // get-wal's segment (writeRaw) is data, not output: -q never holds it back.
  const quiet = globals.quiet === true;
  const report = new ConsoleReporter({
    quiet,
    debug: globals.debug === true,
    color,
    json: format === 'json',
    log: () => logger,
  });

  try {
    const config = definition.usesConfig ? loadConfig({ configFile: globals.config }) : undefined;
    // Code is loaded before switching users: the new user may not be able to read this install.
    const module: CommandModule<unknown> = await definition.load();
    if (config) {
      const logFile = config.global.log_file;
      if (logFile) await preloadFileLogger();
      switchToBarmanUser(config.global.barman_user, logFile ? [dirname(logFile)] : []);
      fileLogger = await openLog(config, invocation, globals.debug === true, report);
      if (fileLogger) logger = fileLogger;
      logger.debug(`command: ${definition.name}`, { argv: process.argv.slice(2) });
      for (const problem of config.problems) report.warning(formatProblem(problem));
    }
    const ctx: CommandContext = {
      config: config ?? (undefined as unknown as BarmanConfig),
      report,
      log: logger,
      format,
      version,
    };
    const data = await module.run(ctx, invocation);
    if (module.writeRaw && report.errorCount === 0 && (await module.writeRaw(data, process.stdout))) {
      return module.exitCode?.(data) ?? 0;
    }
    if (quiet) {
      // As Barman's -q: no result on stdout, console or JSON; the exit code and stderr tell.
    } else if (format === 'json') {
      writeJson(jsonDocument(module.renderJson(data), report.jsonMessages), definition);
    } else {
      const rendered = module.renderConsole(data, { color });
      if (rendered.length > 0) write.out(`${redactSecrets(rendered.join('\n'))}\n`);
    }
    const exitCode = module.exitCode?.(data) ?? 0;
    return Math.max(exitCode, report.errorCount > 0 ? 1 : 0);
  } catch (error) {
    const exitCode = reportFailure(error, report, logger, fileLogger, globals.debug === true);
    // As Barman: the run's JSON document still comes out, its `_ERROR` saying why.
    if (format === 'json' && !quiet) writeJson(jsonDocument(null, report.jsonMessages), definition);
    return exitCode;
  } finally {
    fileLogger?.flush();
  }
}

function writeJson(document: Record<string, unknown>, definition: CommandDefinition): void {
  write.out(`${redactSecrets(pythonJson(document, definition.alwaysJson ? 4 : undefined))}\n`);
}

async function openLog(
  config: BarmanConfig,
  invocation: ParsedInvocation,
  debug: boolean,
  report: ConsoleReporter,
): Promise<FileLogger | undefined> {
  const file = config.global.log_file;
  if (!file) return undefined;
  const level = (debug ? 'debug' : (invocation.overrides.log_level ?? config.global.log_level)) as LogLevel;
  try {
    return await openFileLogger(file, level, { command: invocation.definition.name });
  } catch (error) {
    report.warning(
      `cannot write the log file '${file}': ${describeError(error)}; logging to the console only`,
    );
    return undefined;
  }
}

function reportFailure(
  thrown: unknown,
  report: ConsoleReporter,
  logger: Logger,
  fileLogger: FileLogger | undefined,
  debug: boolean,
): number {
  // A failed system call (permissions, a full disk, a file where a directory belongs) is the
  // machine's doing, not a bug: an ERROR naming the path and the fix, the stack only in the log.
  const error = isSystemError(thrown) ? fromSystemError(thrown) : thrown;
  if (error !== thrown) {
    logger.debug('system error', { stack: (thrown as Error).stack ?? describeError(thrown) });
    if (debug) write.err(`${redactSecrets((thrown as Error).stack ?? '')}\n`);
  }
  if (isBarmanError(error)) {
    report.error(error.message);
    if (error.hint) write.err(`HINT: ${redactSecrets(error.hint)}\n`);
    if (error.cause !== undefined) logger.debug('cause', { cause: describeError(error.cause) });
    return error.exitCode;
  }
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  logger.error(`internal error: ${describeError(error)}`, { stack });
  const where = fileLogger
    ? `see ${fileLogger.file} for details`
    : debug
      ? 'stack trace follows'
      : 'no log_file is configured: run with --debug for the stack trace';
  report.error(`internal error: ${describeError(error)} (${where})`);
  if (debug) write.err(`${redactSecrets(stack)}\n`);
  return 1;
}

function useColor(mode: ColorMode): boolean {
  if (mode === 'always') return true;
  if (mode === 'never') return false;
  return Boolean(process.stdout.isTTY && process.stderr.isTTY);
}
