/**
 * A pool of `count` workers over a list of tasks. After the first failure no task is started,
 * the tasks already running are waited for, and then that failure is thrown: a caller that
 * cleans up after an error (removing a partial copy) never races with work still writing.
 */
export async function runWorkers<T>(
  count: number,
  tasks: readonly T[],
  work: (task: T) => Promise<void>,
  signal?: AbortSignal,
  /** Awaited by each worker before it starts (parallel_jobs_start_batch_*). */
  beforeStart?: () => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async () => {
    if (beforeStart) {
      try {
        await beforeStart();
      } catch (error) {
        failure ??= { error };
      }
    }
    while (failure === null && next < tasks.length) {
      const task = tasks[next++]!;
      try {
        signal?.throwIfAborted();
        await work(task);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(count, tasks.length)) }, worker));
  if (failure !== null) throw (failure as { error: unknown }).error;
}
