/**
 * Whether process `pid` exists, for deciding if a leftover (a temp file, a staged part, a pid file)
 * still belongs to a live process. In doubt it answers yes, so a caller never removes what a
 * running process owns: EPERM means the process exists under another user, and an invalid pid
 * (a damaged name or file) is not proof of death.
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
