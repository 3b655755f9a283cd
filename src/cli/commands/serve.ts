/** `distillery serve`: a model, or a run folder's students, over HTTP until SIGTERM or Ctrl-C. */
import { InvalidArgumentError, type Command } from 'commander';
import { serve, SERVE_DEFAULTS, type ServeOptions } from '../../serve';
import { EXIT, err, out, port, positive, type Settle } from '../shared';

interface ServeFlags {
  host: string;
  port: number;
  threads?: number;
  maxBatch: number;
  maxDelayMs: number;
  waitWhenIdle?: boolean;
  maxQueue: number;
  token?: string;
  bodyLimit: number;
  maxFileBytes: number;
  maxFiles: number;
  requestTimeoutMs: number;
  log?: boolean;
}

/** The token from the flag, else from DISTILLERY_SERVE_TOKEN (which keeps it out of `ps` and shell history). */
function tokenOf(flag: string | undefined): string | undefined {
  const token = flag ?? process.env.DISTILLERY_SERVE_TOKEN;
  return token === undefined || token === '' ? undefined : token;
}

/** Resolves once the server has drained after the first SIGTERM or SIGINT; a second one exits at once. */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) process.exit(EXIT.interrupted);
      stopping = true;
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

async function serveCommand(target: string, flags: ServeFlags): Promise<number> {
  const options: ServeOptions = {
    model: target,
    host: flags.host,
    port: flags.port,
    threads: flags.threads,
    maxBatch: flags.maxBatch,
    maxDelayMs: flags.maxDelayMs,
    waitWhenIdle: flags.waitWhenIdle ?? false,
    maxQueue: flags.maxQueue,
    token: tokenOf(flags.token),
    bodyLimit: flags.bodyLimit,
    maxFileBytes: flags.maxFileBytes,
    maxFiles: flags.maxFiles,
    requestTimeoutMs: flags.requestTimeoutMs,
    logger: flags.log ?? false,
  };
  const stopped = stopSignal(); // listening before the models load: a SIGTERM during a slow load is not lost
  // A ServeSetupError (a folder that fails verify…) or ModelLoadError reaches main(), which prints it: exit 1.
  const server = await serve(options);
  // stdout, one line: what a script or a test reads to find the port (with --port 0).
  out(`listening on ${server.url} (models: ${server.models.join(', ')})`);
  const signal = await stopped;
  err(`${signal}: draining (answering every accepted request)…`);
  await server.close();
  err('stopped');
  return EXIT.ok;
}

function milliseconds(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) throw new InvalidArgumentError('expected a number of milliseconds >= 0');
  return parsed;
}

function portOrZero(value: string): number {
  return value === '0' ? 0 : port(value);
}

/** Adds `distillery serve` to the program. */
export function registerServe(program: Command, set: Settle): void {
  program
    .command('serve')
    .description(
      'serve a model (or every student of a run folder that `distillery verify` accepts) over HTTP, with dynamic ' +
        'batching: POST /v1/models/<name>/predict, GET /v1/models, /healthz, /readyz, /metrics, /openapi.json',
    )
    .argument('<model>', 'an .onnx file, or a run folder')
    .option('--host <host>', 'the interface to bind (0.0.0.0: every interface)', SERVE_DEFAULTS.host)
    .option('--port <port>', 'the port (0: any free port)', portOrZero, SERVE_DEFAULTS.port)
    .option('--threads <n>', 'worker threads, each with its own session (default: one session)', positive)
    .option('--max-batch <rows>', 'rows in one onnxruntime run at most', positive, SERVE_DEFAULTS.maxBatch)
    .option(
      '--max-delay-ms <ms>',
      'how long a batch waits for batch-mates while runs are busy (an idle model runs a request at once)',
      milliseconds,
      SERVE_DEFAULTS.maxDelayMs,
    )
    .option('--wait-when-idle', 'every batch waits --max-delay-ms, even a lone request on an idle model')
    .option('--max-queue <rows>', 'rows waiting per model at most; beyond: 503', positive, SERVE_DEFAULTS.maxQueue)
    .option('--token <token>', 'require Authorization: Bearer <token> (default: $DISTILLERY_SERVE_TOKEN, if set)')
    .option('--body-limit <bytes>', 'largest request body; beyond: 413', positive, SERVE_DEFAULTS.bodyLimit)
    .option(
      '--max-file-bytes <bytes>',
      'largest image file in a multipart upload; beyond: 413',
      positive,
      SERVE_DEFAULTS.maxFileBytes,
    )
    .option(
      '--max-files <n>',
      'most image files in one multipart upload; beyond: 413',
      positive,
      SERVE_DEFAULTS.maxFiles,
    )
    .option(
      '--request-timeout-ms <ms>',
      'time to receive a whole request; beyond: 408',
      positive,
      SERVE_DEFAULTS.requestTimeoutMs,
    )
    .option('--log', 'log every request (JSON lines on stdout)')
    .action((model: string, flags: ServeFlags) => set(serveCommand(model, flags)));
}
