/**
 * One engine for every step of a call that may need Python more than once — fitting a text column's tokenizer while
 * the data are prepared, then training — started on first use (or the caller's), closed at the end if started here.
 * pythonia runs one Python process per Node process, so two steps must never start an Engine each.
 */
import { Engine } from './engine';

/** The caller's engine, or one started when first asked for and closed by {@link withOnDemandEngine}. */
export class OnDemandEngine {
  private started: Promise<Engine> | null = null;

  constructor(private readonly given?: Engine) {}

  /** The engine, started now if this is the first ask and the caller gave none. */
  get(): Promise<Engine> {
    if (this.given) return Promise.resolve(this.given);
    this.started ??= Engine.start();
    return this.started;
  }

  /** Whether an engine is at hand without starting one (the caller's, or one started here). */
  get ready(): boolean {
    return this.given !== undefined || this.started !== null;
  }

  /** Closes the engine if it was started here; the caller's stays open. */
  async close(): Promise<void> {
    const started = this.started;
    this.started = null;
    if (!started) return;
    const engine = await started.catch(() => null); // a failed start has nothing to close: its error went to get()
    await engine?.close();
  }
}

/** Runs `work` with an {@link OnDemandEngine}, closing the engine afterwards if `work` started one. */
export async function withOnDemandEngine<T>(
  given: Engine | undefined,
  work: (engine: OnDemandEngine) => Promise<T>,
): Promise<T> {
  const engine = new OnDemandEngine(given);
  try {
    return await work(engine);
  } finally {
    await engine.close();
  }
}
