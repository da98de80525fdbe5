/** A configuration problem, located as precisely as possible so operators can fix it at once. */
export interface ConfigProblem {
  severity: 'error' | 'warning';
  message: string;
  file?: string;
  line?: number;
  section?: string;
  option?: string;
}

/** `[pg] parallel_jobs: expected an integer, got 'many' (/etc/barman.d/pg.conf, line 7)` */
export function formatProblem(problem: ConfigProblem): string {
  const where = [
    problem.section === undefined ? '' : `[${problem.section}]`,
    problem.option === undefined ? '' : problem.option,
  ]
    .filter(Boolean)
    .join(' ');
  const location =
    problem.file === undefined
      ? ''
      : ` (${problem.file}${problem.line === undefined ? '' : `, line ${problem.line}`})`;
  return `${where ? `${where}: ` : ''}${problem.message}${location}`;
}
