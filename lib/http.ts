import type { APIGatewayProxyResultV2 } from 'aws-lambda';
import { Problem } from './errors.ts';
import { problemOf } from './problems.ts';

export type HttpResult = Exclude<APIGatewayProxyResultV2, string>;

/** Answers carry keys or facts about labs: no cache on the way may keep them. */
const NO_STORE = { 'cache-control': 'no-store' };

export function jsonResponse(statusCode: number, body: unknown): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...NO_STORE },
    body: JSON.stringify(body),
  };
}

/** Bodies larger than this are refused before they are parsed. */
export const MAX_BODY_BYTES = 64 * 1024;

export class PayloadTooLargeError extends Problem {
  override name = 'PayloadTooLargeError';
  constructor(bytes: number, what: string) {
    super(
      413,
      'body-too-large',
      'Body too large',
      `the ${what} has ${bytes} bytes; at most ${MAX_BODY_BYTES} are accepted`,
    );
  }
}

/** An HTTP body's size as sent (a base64 body counts its decoded bytes); over the limit is a 413. */
export function refuseLargeBody(body: string | undefined, isBase64Encoded: boolean | undefined): void {
  if (!body) return;
  const bytes = Buffer.byteLength(body, isBase64Encoded ? 'base64' : 'utf8');
  if (bytes > MAX_BODY_BYTES) throw new PayloadTooLargeError(bytes, 'request body');
}

/** A lab event's detail, measured as JSON; EventBridge allows 256 KiB, the service as much as for HTTP. */
export function refuseLargeDetail(detail: unknown): void {
  const bytes = Buffer.byteLength(JSON.stringify(detail ?? null) ?? '', 'utf8');
  if (bytes > MAX_BODY_BYTES) throw new PayloadTooLargeError(bytes, 'event detail');
}

/** RFC 9457 problem+json; a 503 tells the caller when to come back. */
export function problemResponse(error: Problem): HttpResult {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json', ...NO_STORE };
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
  return { statusCode: error.status, headers, body: JSON.stringify(problemOf(error)) };
}
