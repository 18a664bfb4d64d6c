import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Record<string, unknown>;
}

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

/** Invoke an HTTP handler and parse what API Gateway would send back. */
export async function invokeHttp(handler: Handler, event: APIGatewayProxyEventV2, context: Context) {
  const result = (await handler(event, context)) as {
    statusCode: number;
    headers?: Record<string, string>;
    body?: string;
  };
  return {
    status: result.statusCode,
    headers: result.headers ?? {},
    body: result.body ? (JSON.parse(result.body) as Record<string, unknown>) : {},
  } satisfies HttpAnswer;
}

/** What the stand-in's /v1/models says to a virtual key: 200 with its models, or 401 with LiteLLM's error type. */
export async function probeKey(
  litellmUrl: string,
  key: string,
): Promise<{ status: number; models: string[]; type?: string }> {
  const response = await fetch(`${litellmUrl}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  const body = (await response.json()) as { data?: { id: string }[]; error?: { type: string } };
  return {
    status: response.status,
    models: body.data?.map((model) => model.id) ?? [],
    ...(body.error ? { type: body.error.type } : {}),
  };
}

/** What the stand-in's /key/info says of a key: live, deleted (releases that read deleted keys back) or unknown (404). */
export async function keyInfoState(
  litellmUrl: string,
  masterKey: string,
  key: string,
): Promise<'live' | 'deleted' | 'unknown'> {
  const response = await fetch(`${litellmUrl}/key/info?key=${encodeURIComponent(key)}`, {
    headers: { authorization: `Bearer ${masterKey}` },
  });
  if (response.status === 404) return 'unknown';
  const body = (await response.json()) as { info?: { status?: string } };
  if (response.status !== 200) throw new Error(`/key/info answered ${response.status}`);
  return body.info?.status === 'deleted' ? 'deleted' : 'live';
}
