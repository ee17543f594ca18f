/**
 * A local QuickChart: POST /chart (what quickchart-js toBinary() calls) answers a small valid PNG
 * and records the chart config it was sent. `fail` scripts 5xx answers for the fallback tests.
 */
import { deflateSync } from 'node:zlib';
import { FakeHttp, sendJson, type RecordedRequest } from './fake-http.js';

export interface FakeQuickChart {
  http: FakeHttp;
  /** For QUICKCHART_URL. */
  url: string;
  /** The PNG every render answers with. */
  png: Buffer;
  renders(): RecordedRequest[];
  /** The next `times` renders answer this HTTP status. */
  fail(status: number, times?: number): void;
  /** The next `times` renders are never answered (until close). */
  stall(times?: number): void;
  /** Stalled renders whose client closed the connection (aborted its request). */
  abandonedByClient(): number;
  close(): Promise<void>;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A valid `width` x `height` RGB PNG of one colour. */
export function solidPng(width: number, height: number, rgb: [number, number, number] = [47, 128, 237]): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit, truecolour, no interlace
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => rgb).flat())]);
  const pixels = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export async function startFakeQuickChart(): Promise<FakeQuickChart> {
  const png = solidPng(4, 3);
  const isRender = (r: RecordedRequest) => r.method === 'POST' && r.path === '/chart';
  let stalls = 0;
  let closedByClient = 0;
  const http = await new FakeHttp((r, res): void => {
    if (!isRender(r)) return sendJson(res, 404, { error: 'not found' });
    if (stalls > 0) {
      stalls -= 1;
      res.once('close', () => {
        closedByClient += 1;
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(png.length) });
    res.end(png);
  }).listen();
  return {
    http,
    url: http.url,
    png,
    renders: () => http.find(isRender),
    abandonedByClient: () => closedByClient,
    fail: (status, times = 1) =>
      http.fail(
        isRender,
        { status, body: { error: 'render failed' }, headers: { 'x-quickchart-error': 'scripted failure' } },
        times,
      ),
    stall: (times = 1) => {
      stalls += times;
    },
    close: () => http.close(),
  };
}
