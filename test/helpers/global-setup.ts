/** Builds dist/ once, so that CLI tests run the real `port` binary from the current sources. */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
}
