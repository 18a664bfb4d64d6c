import { readFileSync } from 'node:fs';

/**
 * Whether a process is still running. Signal 0 tests for it without signalling, but a process
 * that has ended and is not yet reaped (a zombie, as an orphan can stay for a while) still takes
 * it, so on Linux its state is read too.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return true;
  }
}
