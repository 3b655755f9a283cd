/**
 * `GET /metrics`, in the Prometheus text format (prom-client). One registry per server, not prom-client's global
 * one: two servers in one process (tests, or a user embedding two) must not count into each other's metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Batch sizes as powers of two: the sizes a batcher's `maxBatch` is usually set to. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/** Request latency in seconds, from a cache-hot millisecond to a queue-bound second and beyond. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ServeMetrics {
  readonly registry: Registry;
  /** One answered request: its route pattern (bounded, unlike its URL), method, status and seconds taken. */
  request(route: string, method: string, status: number, seconds: number): void;
  /** One batch run on `model`, of `rows` rows. */
  batch(model: string, rows: number): void;
}

/** The metrics of one server; `queueDepth` is read at each scrape, so the gauge is never stale. */
export function serveMetrics(queueDepth: () => ReadonlyMap<string, number>): ServeMetrics {
  const registry = new Registry();
  // Process metrics (resident memory, event-loop lag, GC): what a soak or an alert on a leak watches.
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'distillery_http_requests_total',
    help: 'HTTP requests answered, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'distillery_http_request_duration_seconds',
    help: 'Time to answer a request, from its arrival to its response, by route',
    labelNames: ['route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const batches = new Histogram({
    name: 'distillery_batch_size',
    help: 'Rows per onnxruntime run made by the dynamic batcher, by model',
    labelNames: ['model'] as const,
    buckets: BATCH_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: 'distillery_queue_depth',
    help: "Calls accepted by a model's batcher and not yet in a run, by model",
    labelNames: ['model'] as const,
    registers: [registry],
    collect() {
      for (const [model, depth] of queueDepth()) this.set({ model }, depth);
    },
  });
  return {
    registry,
    request: (route, method, status, seconds) => {
      requests.inc({ route, method, status: String(status) });
      latency.observe({ route }, seconds);
    },
    batch: (model, rows) => batches.observe({ model }, rows),
  };
}
