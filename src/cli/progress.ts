/**
 * A progress bar on stderr, only when stderr is a terminal and not in CI: logs and CI output stay
 * clean.
 */
export function progressBar(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY || process.env.CI) return undefined;
  let last = -1;
  return (done, total) => {
    const pct = total ? Math.floor((100 * done) / total) : 100;
    if (pct === last) return;
    last = pct;
    const width = 30;
    const fill = Math.round((width * pct) / 100);
    process.stderr.write(`\r${label} [${'#'.repeat(fill)}${' '.repeat(width - fill)}] ${pct}%`);
    if (done >= total) process.stderr.write('\r\x1b[K');
  };
}
