/**
 * Progress a person can follow: one bar per training phase on a terminal
 * (cli-progress), plain lines otherwise. Everything goes to stderr, so stdout
 * stays free for `--json`.
 */
import cliProgress from 'cli-progress';
import type { EngineEvent } from '../engine';
import type { LabellingEvent } from '../teacher/label';

export interface ProgressReporter {
  onEvent(event: EngineEvent): void;
  /** A teacher you call answering the rows (src/teacher): rows answered, cached, calls, failures, retries, ETA. */
  onLabelling(event: LabellingEvent): void;
  note(message: string): void;
  stop(): void;
}

const pct = (value: number | undefined): string => (value === undefined ? '  —   ' : `${(100 * value).toFixed(2)}%`);

type EpochMetrics = Extract<EngineEvent, { event: 'epoch' }>['metrics'];

/** One split's figures, named as the split: `val 97.10% agree 98.20%`, `test rmse 0.1234`; '' when it has none. */
function splitSummary(
  label: string,
  figures: { accuracy?: number; agreement?: number; rmse?: number; rmseToTeacher?: number },
): string {
  if (figures.accuracy !== undefined)
    return `${label} ${pct(figures.accuracy)}${figures.agreement !== undefined ? ` agree ${pct(figures.agreement)}` : ''}`;
  if (figures.rmse !== undefined)
    return `${label} rmse ${figures.rmse.toFixed(4)}${figures.rmseToTeacher !== undefined ? ` to teacher ${figures.rmseToTeacher.toFixed(4)}` : ''}`;
  return '';
}

/**
 * The epoch's quality: on validation when the run has a validation split (the engine then reads the test split only
 * once, for the final model), on the test split, named as such, when it has none.
 */
function qualitySummary(m: EpochMetrics): string {
  const validation = splitSummary('val', {
    accuracy: m.validationAccuracy,
    agreement: m.validationAgreement,
    rmse: m.validationRmse,
    rmseToTeacher: m.validationRmseToTeacher,
  });
  if (validation) return validation;
  return splitSummary('test', {
    accuracy: m.testAccuracy,
    agreement: m.testAgreement,
    rmse: m.testRmse,
    rmseToTeacher: m.testRmseToTeacher,
  });
}

function epochSummary(event: Extract<EngineEvent, { event: 'epoch' }>): string {
  const m = event.metrics;
  const train = m.trainAccuracy !== undefined ? `train ${pct(m.trainAccuracy)} ` : '';
  return `loss ${m.loss.toFixed(4)} ${train}${qualitySummary(m)} (${m.seconds.toFixed(1)} s)`;
}

/** Plain lines: one per phase start, one per epoch, one per phase end. */
/** "rows 1,200/5,000 (800 cached) · 13 calls · 1 failed · 1 retried": the figures both reporters show. */
function labellingSummary(event: LabellingEvent): string {
  const answered = event.cached + event.called;
  return `rows ${answered}/${event.rows} (${event.cached} cached) · ${event.calls} calls · ${event.failures} failed · ${event.retries} retried`;
}

/** Seconds left at the pace of the calls so far; null before the first answer. */
function labellingEta(event: LabellingEvent): number | null {
  const left = event.rows - event.cached - event.called;
  return event.called > 0 ? (left * event.seconds) / event.called : null;
}

export class LineReporter implements ProgressReporter {
  private lastLabelling = 0;

  constructor(
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** One line every 5 s at most while a teacher answers (a log file need not hold every batch), and one at the end. */
  onLabelling(event: LabellingEvent): void {
    const done = event.cached + event.called >= event.rows;
    if (!done && this.now() - this.lastLabelling < 5000) return;
    this.lastLabelling = this.now();
    const eta = labellingEta(event);
    this.write(
      `[teacher ${event.teacher}] ${event.split}: ${labellingSummary(event)}${done ? ' · done' : eta === null ? '' : ` · ETA ${Math.ceil(eta)} s`}`,
    );
  }

  onEvent(event: EngineEvent): void {
    switch (event.event) {
      case 'phase-start':
        this.write(
          `[${event.phase} ${event.name}] ${event.epochs} epochs × ${event.stepsPerEpoch} steps on ${event.samples} samples${event.startEpoch ? ` (resuming after epoch ${event.startEpoch})` : ''}`,
        );
        break;
      case 'epoch':
        this.write(`[${event.phase} ${event.name}] epoch ${event.epoch}/${event.epochs}: ${epochSummary(event)}`);
        break;
      case 'phase-end':
        this.write(`[${event.phase} ${event.name}] done in ${event.seconds.toFixed(1)} s`);
        break;
      case 'log':
        this.write(`  ${event.message}`);
        break;
      default:
        break;
    }
  }

  note(message: string): void {
    this.write(message);
  }

  stop(): void {
    // Nothing to stop: each line is written as it comes.
  }
}

/** A bar per phase: steps done over all epochs, with epoch, loss, accuracy and ETA. */
export class BarReporter implements ProgressReporter {
  private bar: cliProgress.SingleBar | null = null;
  private labelling: string | null = null;

  onLabelling(event: LabellingEvent): void {
    const key = `${event.teacher}/${event.split}`;
    if (this.labelling !== key) {
      this.finish();
      this.labelling = key;
      this.bar = new cliProgress.SingleBar(
        {
          format: `teacher {name} {split} |{bar}| {summary} · ETA {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(event.rows, event.cached, { name: event.teacher, split: event.split, summary: '' });
    }
    this.bar?.update(event.cached + event.called, { summary: labellingSummary(event) });
  }
  private stepsPerEpoch = 1;
  private lastSummary = '';

  onEvent(event: EngineEvent): void {
    switch (event.event) {
      case 'phase-start':
        this.finish();
        this.stepsPerEpoch = event.stepsPerEpoch;
        this.bar = new cliProgress.SingleBar(
          {
            format: `{phase} {name} |{bar}| epoch {epoch}/{epochs} · loss {loss} · {summary} · ETA {eta_formatted}`,
            stream: process.stderr,
            hideCursor: true,
            clearOnComplete: false,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(event.epochs * event.stepsPerEpoch, event.startEpoch * event.stepsPerEpoch, {
          phase: event.phase,
          name: event.name,
          epoch: event.startEpoch,
          epochs: event.epochs,
          loss: '—',
          summary: '',
        });
        break;
      case 'step':
        this.bar?.update((event.epoch - 1) * this.stepsPerEpoch + event.step, {
          epoch: event.epoch,
          loss: event.loss.toFixed(4),
        });
        break;
      case 'epoch':
        this.lastSummary = epochSummary(event);
        this.bar?.update(event.epoch * this.stepsPerEpoch, {
          epoch: event.epoch,
          loss: event.metrics.loss.toFixed(4),
          summary: this.lastSummary,
        });
        break;
      case 'phase-end':
        this.finish();
        break;
      case 'log':
        this.note(`  ${event.message}`);
        break;
      default:
        break;
    }
  }

  note(message: string): void {
    if (this.bar) this.finish();
    process.stderr.write(`${message}\n`);
  }

  stop(): void {
    this.finish();
  }

  private finish(): void {
    this.bar?.stop();
    this.bar = null;
    this.labelling = null;
  }
}

export function progressReporter(): ProgressReporter {
  return process.stderr.isTTY ? new BarReporter() : new LineReporter();
}
