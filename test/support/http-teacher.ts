/**
 * A teacher trained here, served behind a local HTTP server: what issue 28's evidence calls a hosted classifier.
 * POST /predict { rows: number[][] } → { logits: number[][] }, with injectable latency and failures, and a record of
 * every row it was asked for (by the same content key the answer cache uses), so tests can count calls per row.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OnnxModel } from '../../src/runtime';
import { seededRandom } from '../../src/data/augment';
import { rowKey } from '../../src/teacher/cache';

export interface HttpTeacherOptions {
  /** Milliseconds each request waits before answering. */
  latencyMs?: number;
  /** Share of requests answered 503 (deterministic: by a seeded sequence). */
  failureRate?: number;
}

export interface HttpTeacher {
  url: string;
  /** Row keys asked for, one entry per row per request (answered or failed). */
  asked: string[];
  /** Requests answered 200 and 503. */
  answered: number;
  failed: number;
  close(): Promise<void>;
}

export async function serveTeacher(onnx: string, options: HttpTeacherOptions = {}): Promise<HttpTeacher> {
  const model = await OnnxModel.load(onnx);
  const random = seededRandom(7); // the same failures on every run
  const state = { asked: [] as string[], answered: 0, failed: 0 };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { rows: number[][] };
        const rows = body.rows.map((row) => Float32Array.from(row));
        for (const row of rows) state.asked.push(rowKey(row));
        if (options.latencyMs) await new Promise((resolve) => setTimeout(resolve, options.latencyMs));
        if (options.failureRate && random() < options.failureRate) {
          state.failed++;
          response.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"overloaded"}');
          return;
        }
        let predictions;
        try {
          predictions = await model.predictBatch(rows);
        } catch (error) {
          // (closing under a killed client's last requests: answer, never leave an unhandled rejection behind)
          response.writeHead(500).end(String(error));
          return;
        }
        state.answered++;
        response.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            logits: predictions.map((prediction) => (prediction.task === 'classification' ? prediction.logits : null)),
          }),
        );
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/predict`,
    get asked() {
      return state.asked;
    },
    get answered() {
      return state.answered;
    },
    get failed() {
      return state.failed;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await model.close();
    },
  };
}
