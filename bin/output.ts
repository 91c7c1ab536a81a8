/**
 * Where the CLI writes: results on stdout (exactly one JSON document with --json), progress
 * and logs on stderr (bars on a TTY, plain lines otherwise, nothing with --quiet).
 */
import chalk from 'chalk';
import cliProgress from 'cli-progress';

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
}

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  private bar?: cliProgress.SingleBar;
  private barLabel = '';
  private lastPlain = 0;

  constructor(opts: OutputOptions) {
    this.json = !!opts.json;
    this.quiet = !!opts.quiet;
  }

  /** Progress/log line on stderr. */
  info(msg: string): void {
    if (this.quiet) return;
    this.stopBar();
    process.stderr.write(`${chalk.dim('redraft')} ${msg}\n`);
  }
  warn(msg: string): void {
    this.stopBar();
    process.stderr.write(`${chalk.yellow('warning')} ${msg}\n`);
  }

  /** Progress of a long step: a bar on a TTY, a line per 10% otherwise. */
  progress(label: string, done: number, total: number): void {
    if (this.quiet || total <= 0) return;
    if (process.stderr.isTTY) {
      if (!this.bar || this.barLabel !== label) {
        this.stopBar();
        this.barLabel = label;
        this.bar = new cliProgress.SingleBar(
          { format: `${label} [{bar}] {percentage}% {value}/{total}`, stream: process.stderr, hideCursor: true, clearOnComplete: true },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(total, 0);
      }
      this.bar.update(done);
      if (done >= total) this.stopBar();
    } else {
      const pct = Math.floor((100 * done) / total);
      if (done === 0) this.lastPlain = -1;
      if (pct >= this.lastPlain + 10 || done >= total) {
        this.lastPlain = pct - (pct % 10);
        process.stderr.write(`redraft ${label}: ${pct}% (${done}/${total})\n`);
      }
    }
  }

  private stopBar(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = undefined;
    }
  }

  /** Set once a command has printed its result, so a later failure adds no second JSON document. */
  static resultWritten = false;

  /** The command's result: a JSON document (with `ok`) with --json, else the human text. */
  result(obj: object, text: string, ok = true): void {
    this.stopBar();
    Output.resultWritten = true;
    if (this.json) process.stdout.write(JSON.stringify({ ok, ...obj }, null, 2) + '\n');
    else if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }
}
