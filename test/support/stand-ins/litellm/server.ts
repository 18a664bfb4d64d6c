import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { addDuration, parseDuration } from '../../../../lib/duration.ts';
import { recordSecret } from '../../checks/run-record.ts';
import { openStandInDatabase, type StandInDatabase } from './database.ts';
import { Faults } from './faults.ts';
import { type KeyRow, KeyTable, type ListFilter } from './key-table.ts';
import { RELEASES, type ReleaseName, type ReleaseProfile, releaseFromEnv } from './releases.ts';

/**
 * A LiteLLM proxy stand-in that speaks its key API over real HTTP, with LiteLLM's status codes,
 * error bodies, pagination and known faults, on LiteLLM's own tables in real Postgres.
 */
export interface StandInOptions {
  masterKey: string;
  models?: string[];
  port?: number;
  databaseUrl?: string;
  /** The LiteLLM release to behave as; default `LITELLM_STANDIN_RELEASE`, else the newest. */
  release?: ReleaseName;
}

/** What an operator can switch on a real proxy, as far as this service meets it. */
export interface OperatorSettings {
  /** UI setting: caller-chosen `key` values refused with 403 (releases with `customKeySwitch`). */
  disableCustomApiKeys: boolean;
  /**
   * `general_settings.disable_custom_api_keys` in config.yaml: enforced only by releases with
   * `customKeySwitchEverywhere`; from `configWins` on, it also makes the UI setting read-only.
   */
  configDisableCustomApiKeys?: boolean;
  /**
   * How long the other workers keep enforcing the previous UI value after `/config/field/update`
   * (LiteLLM: up to 10 minutes), on releases without `customKeySwitchEverywhere`.
   */
  uiSettingDelayMs: number;
  /** `general_settings.custom_key_policy` (releases with `customKeyPolicy`): a refusal is a 403 with its message. */
  customKeyPolicy?: (
    operation: 'generate' | 'update',
    request: Json,
  ) => { decision: boolean; message?: string };
  /** Where `litellm_version` is shown, when not where the release shows it (`versionShownOn`). */
  readinessDetails?: 'public' | 'details-route';
  /** The proxy's database cannot be reached (see the release's `databaseOutage`). */
  databaseDown: boolean;
  /** Models marked `discoverable: false`, left out of `/v1/models` on releases that hide them. */
  undiscoverableModels: string[];
  /** `litellm.enable_key_alias_format_validation` (releases with an `aliasFormatCheck`). */
  keyAliasFormatValidation?: boolean;
  /** `litellm_settings.key_alias_pattern`, a Python regex (releases with a configurable check). */
  keyAliasPattern?: string;
  /** Reported instead of the profile's version (an older or newer proxy than any profile). */
  version?: string;
}

export const DEFAULT_MODELS = ['granite-3-2-8b-instruct', 'mistral-7b-instruct', 'llama-scout-17b'];

type Json = Record<string, unknown>;

export interface ListCost {
  readonly baseMs: number;
  /** Added per row skipped by the page's OFFSET. */
  readonly perOffsetRowMs: number;
  /** Added per row of the key table: with no index on the filters, the page's count query reads them all. */
  readonly perTableRowMs: number;
}

/**
 * LiteLLM's /key/list as users measure it on a large table (BerriAI/litellm#19477, PR #22537: 1-3 s
 * a query near 380,000 keys): per page, an OFFSET query and a separate count query, neither helped
 * by an index on `key_alias` or `expires`, and full objects built in Python. Chosen: 20 ms of base,
 * 980 ms per 380,000 rows skipped (about 1 s for a page at offset 380,000) and 500 ms per 380,000
 * rows of the table (the count, whatever the filter). So the last page of a 380,000-key table takes
 * 1.5 s, an alias lookup there 0.5 s, among 1,000,000 keys 1.3 s, among 1,000 21 ms. The stand-in's
 * own query comes on top.
 */
export function realListCost(baseMs = 20): ListCost {
  return { baseMs, perOffsetRowMs: (1000 - baseMs) / 380_000, perTableRowMs: 500 / 380_000 };
}

/** How often the table is counted again for that cost: a million-row count per call would be a cost of its own. */
const TABLE_ROWS_TTL_MS = 10_000;

interface Reply {
  status: number;
  body: unknown;
}
class Answer extends Error {
  constructor(readonly reply: Reply) {
    super(`stand-in answers ${reply.status}`);
  }
}

const hash = (raw: string) => createHash('sha256').update(raw).digest('hex');
const abbreviate = (key: string) => `${key.slice(0, 4)}****${key.slice(-4)}`;

/** LiteLLM's ProxyException body: the HTTP status again as a string `code`, `param` often "None". */
function proxyError(status: number, message: string, type: string, param: string | null = 'None'): Answer {
  return new Answer({ status, body: { error: { message, type, param, code: String(status) } } });
}

/** FastAPI's own validation failure (pydantic): 422 with a `detail` list. */
function validationError(loc: string[], msg: string, type = 'value_error'): Answer {
  return new Answer({ status: 422, body: { detail: [{ type, loc, msg, input: null }] } });
}

/** LiteLLM's datetimes: ISO with microseconds and an explicit UTC offset. */
function litellmTime(text: string | null): string | null {
  return text ? `${text}000+00:00` : null;
}

function keyObject(row: KeyRow, withToken: boolean, release: ReleaseProfile): Json {
  const { token, expires, created_at, updated_at, total_spend, ...rest } = row;
  return {
    ...(withToken ? { token } : {}),
    ...rest,
    ...(release.totalSpend ? { total_spend } : {}),
    expires: litellmTime(expires),
    created_at: litellmTime(created_at),
    updated_at: litellmTime(updated_at),
  };
}

/** A live key's `info.status` on releases that report one (PR #41311). */
function liveStatus(row: KeyRow): 'active' | 'expired' | 'revoked' {
  if (row.blocked) return 'revoked';
  return row.expires && new Date(`${row.expires}Z`).getTime() < Date.now() ? 'expired' : 'active';
}

/** What LiteLLM's auth answers a missing key, or one that is not a virtual key. */
function refuseMalformed(token: string | undefined): asserts token is string {
  if (!token) throw proxyError(401, 'Authentication Error, No api key passed in.', 'auth_error');
  if (!token.startsWith('sk-')) {
    throw proxyError(
      401,
      `Authentication Error, LiteLLM Virtual Key expected. Received=${abbreviate(token)}, expected to start with 'sk-'.`,
      'auth_error',
    );
  }
}

/** PR #42019 refuses an unset, empty or publicly known master key; nothing about length. */
function refuseWeakMasterKey(masterKey: string, release: ReleaseProfile): void {
  if (release.refusesWeakMasterKey && ['', 'sk-1234'].includes(masterKey.trim())) {
    throw new Error(
      `LiteLLM ${release.version} refuses to start: the master key is unset, empty or the publicly known default`,
    );
  }
}

/** `_validate_key_alias_format`: 2-255 characters, alphanumeric at both ends, a-zA-Z0-9_-/.@ inside. */
const FIXED_ALIAS_RULE = /^[a-zA-Z0-9][a-zA-Z0-9_\-/.@]{0,253}[a-zA-Z0-9]$/;

/** The `LiteLLMRoutes.openai_routes` the stand-in serves: LLM API routes, where a key's own budget binds. */
const OPENAI_ROUTES = ['/models', '/v1/models', '/chat/completions', '/v1/chat/completions'];

/** The `LiteLLMRoutes` groups a key's `allowed_routes` may name, narrowed to the routes the stand-in serves. */
function routeGroup(name: string, release: ReleaseProfile): readonly string[] {
  switch (name) {
    case 'llm_api_routes':
      return [...OPENAI_ROUTES, ...(release.modelInfoIsLlmApiRoute ? ['/model/info', '/v1/model/info'] : [])];
    case 'management_routes':
      return [
        '/key/generate',
        '/key/update',
        '/key/delete',
        '/key/info',
        '/key/list',
        '/key/block',
        '/key/unblock',
        '/model/info',
      ];
    case 'info_routes':
      return ['/key/info', '/v2/key/info', '/key/list', '/model/info', '/v1/model/info', ...OPENAI_ROUTES];
    default:
      return [];
  }
}

/**
 * `RouteChecks.is_virtual_key_allowed_to_call_route`: an entry allows its route and the routes
 * under it, a group name its group, and a trailing `*` every route it prefixes.
 */
function allowsRoute(entries: readonly string[], route: string, release: ReleaseProfile): boolean {
  return entries.some(
    (entry) =>
      route === entry ||
      route.startsWith(`${entry}/`) ||
      (entry.endsWith('*') && route.startsWith(entry.slice(0, -1))) ||
      routeGroup(entry, release).includes(route),
  );
}

/** `handle_key_type` on /key/generate: a key type other than `default` replaces the `allowed_routes` sent. */
const KEY_TYPE_ROUTES: Readonly<Record<string, readonly string[] | undefined>> = {
  llm_api: ['llm_api_routes'],
  management: ['management_routes'],
  read_only: ['info_routes'],
  default: undefined,
};

function allowedRoutesOf(body: Json): string[] {
  const keyType = body.key_type ?? 'default';
  if (typeof keyType !== 'string' || !Object.hasOwn(KEY_TYPE_ROUTES, keyType)) {
    throw validationError(
      ['body', 'key_type'],
      "Input should be 'llm_api', 'management', 'read_only' or 'default'",
      'enum',
    );
  }
  const routes = KEY_TYPE_ROUTES[keyType] ?? (Array.isArray(body.allowed_routes) ? body.allowed_routes : []);
  return routes.map(String);
}

export class LiteLlmStandIn {
  readonly faults = new Faults();
  readonly calls = new Map<string, number>();
  /**
   * Per endpoint, the wall time (ms) during which at least one of its calls was being answered,
   * latency included: where a bench's wall time went, however many calls overlapped.
   */
  readonly busyMs = new Map<string, number>();
  private readonly busySince = new Map<string, { active: number; since: number }>();
  /** Every raw key value /key/generate ever received, for leak checks. */
  readonly issuedKeys = new Set<string>();
  models: string[];
  inFlight = 0;
  peakInFlight = 0;
  /**
   * `expires` on /key/list: `supported` (LiteLLM since PR #32953), `ignored` (older proxies: FastAPI
   * drops query parameters it does not know) or `refused` (a 400, as for an unknown value).
   */
  expiresFilter: 'supported' | 'ignored' | 'refused';
  release: ReleaseProfile;
  settings: OperatorSettings = LiteLlmStandIn.defaultSettings();
  /**
   * What each /key/list page costs beyond the table's own work: nothing, or LiteLLM's real cost
   * (see `realListCost`): a base, a term growing with the page's OFFSET and one with the table's size.
   */
  listCost?: ListCost;
  /** The key table's size for `listCost`, counted at most once per TABLE_ROWS_TTL_MS. */
  private tableRows?: { readonly count: Promise<number>; readonly at: number };
  /** The UI value other workers still enforce after a change, until when (see `uiSettingDelayMs`). */
  private staleCustomKeySwitch?: { value: boolean; until: number };
  /** The other replica's auth cache (see `replicaAuthCacheMs`): key hash -> row and when it lapses. */
  private readonly replicaCache = new Map<string, { row: KeyRow; until: number }>();
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly hooks = new Map<string, () => Promise<void>>();

  private constructor(
    private options: StandInOptions,
    readonly table: KeyTable,
  ) {
    this.models = options.models ?? [...DEFAULT_MODELS];
    this.release = options.release ? RELEASES[options.release] : releaseFromEnv();
    this.expiresFilter = this.release.expiresFilter ? 'supported' : 'ignored';
    recordSecret(options.masterKey);
  }

  static defaultSettings(): OperatorSettings {
    return {
      disableCustomApiKeys: false,
      uiSettingDelayMs: 0,
      databaseDown: false,
      undiscoverableModels: [],
    };
  }

  /** Behave as another release from now on (the table stays); a release that would not start throws. */
  useRelease(name: ReleaseName): void {
    refuseWeakMasterKey(this.options.masterKey, RELEASES[name]);
    this.release = RELEASES[name];
    this.expiresFilter = this.release.expiresFilter ? 'supported' : 'ignored';
  }

  static async start(options: StandInOptions): Promise<LiteLlmStandIn> {
    refuseWeakMasterKey(options.masterKey, options.release ? RELEASES[options.release] : releaseFromEnv());
    const db: StandInDatabase = await openStandInDatabase(options.databaseUrl);
    const table = new KeyTable(db);
    await table.migrate();
    const standIn = new LiteLlmStandIn(options, table);
    await standIn.listen(options.port ?? 0);
    return standIn;
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | undefined;
    return `http://127.0.0.1:${address?.port}`;
  }

  /** The proxy's master key changes (an operator rotated it); the old one stops working at once. */
  rotateMasterKey(masterKey: string): void {
    refuseWeakMasterKey(masterKey, this.release);
    recordSecret(masterKey);
    this.options = { ...this.options, masterKey };
  }

  callCount(endpoint?: string): number {
    if (endpoint) return this.calls.get(endpoint) ?? 0;
    return [...this.calls.values()].reduce((a, b) => a + b, 0);
  }

  /** Calls that can change LiteLLM's state. */
  mutatingCalls(): number {
    return [
      'POST /key/generate',
      'POST /key/delete',
      'POST /key/update',
      'POST /key/block',
      'POST /key/unblock',
    ]
      .map((endpoint) => this.callCount(endpoint))
      .reduce((a, b) => a + b, 0);
  }

  resetCounters(): void {
    this.calls.clear();
    this.busyMs.clear();
    this.peakInFlight = this.inFlight;
  }

  async reset(): Promise<void> {
    this.faults.clear();
    this.hooks.clear();
    this.replicaCache.clear();
    delete this.staleCustomKeySwitch;
    this.resetCounters();
    this.expiresFilter = this.release.expiresFilter ? 'supported' : 'ignored';
    this.settings = LiteLlmStandIn.defaultSettings();
    delete this.listCost;
    delete this.tableRows;
    this.models = this.options.models ?? [...DEFAULT_MODELS];
    await this.table.truncate();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    await this.table.db.close();
  }

  /**
   * Run `hook` once, right before the next call of `endpoint` is answered: something another
   * client does to LiteLLM in between two calls of ours.
   */
  beforeNext(endpoint: string, hook: () => Promise<void>): void {
    this.hooks.set(endpoint, hook);
  }

  /** Add a key directly (another system's key, an expired key of ours, a population for scale tests). */
  async seedKey(key: {
    raw?: string;
    alias: string | null;
    expires: Date | null;
    metadata?: Json;
    models?: string[];
    userId?: string | null;
    createdAt?: Date;
  }): Promise<{ raw: string; token: string }> {
    const raw = key.raw ?? `sk-${randomBytes(16).toString('base64url')}`;
    const token = hash(raw);
    await this.table.insert({
      token,
      key_name: `sk-...${raw.slice(-4)}`,
      key_alias: key.alias,
      expires: key.expires,
      models: key.models ?? [],
      metadata: key.metadata ?? {},
      user_id: key.userId ?? null,
      max_budget: null,
      created_by: 'default_user_id',
      ...(key.createdAt ? { created_at: key.createdAt } : {}),
    });
    return { raw, token };
  }

  /** Give a user a LiteLLM role (`proxy_admin`, `internal_user`, …), creating its row if need be. */
  async setUserRole(userId: string, role: string): Promise<void> {
    await this.table.setUserRole(userId, role);
  }

  /**
   * A key spends `usd`: `spend` always grows, `total_spend` only on a release that keeps it, so a
   * key that spent before the proxy's upgrade to one shows less lifetime than current spend.
   */
  async recordSpend(key: string, usd: number): Promise<void> {
    await this.table.addSpend(key.startsWith('sk-') ? hash(key) : key, usd, this.release.totalSpend);
  }

  /** LiteLLM's `total_spend` backfill script (PR #42967; what it computes is unverified). */
  async backfillTotalSpend(): Promise<void> {
    await this.table.backfillTotalSpend();
  }

  private async listen(port: number): Promise<void> {
    this.server = createServer((req, res) => void this.serve(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const endpoint = `${req.method} ${url.pathname}`;
    this.calls.set(endpoint, (this.calls.get(endpoint) ?? 0) + 1);
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    const busy = this.busySince.get(endpoint) ?? { active: 0, since: 0 };
    if (busy.active++ === 0) busy.since = performance.now();
    this.busySince.set(endpoint, busy);
    try {
      const body = await readBody(req);
      if (this.faults.rates.latencyMs > 0) await sleep(this.faults.rates.latencyMs);
      if (this.listCost && endpoint === 'GET /key/list') {
        const offset =
          (Number(url.searchParams.get('page') ?? 1) - 1) * Number(url.searchParams.get('size') ?? 10);
        const { baseMs, perOffsetRowMs, perTableRowMs } = this.listCost;
        const rows = await this.tableRowsForCost();
        await sleep(baseMs + Math.max(0, offset) * perOffsetRowMs + rows * perTableRowMs);
      }
      const fault = this.faults.pick(endpoint, `${url.search} ${body}`);
      if (fault === 'reset') return void req.socket.destroy();
      if (fault === 'hang') return;
      if (fault === '500' || fault === '503') {
        return send(res, {
          status: Number(fault),
          body: {
            error: {
              message: 'Service Unavailable',
              type: 'internal_server_error',
              param: 'None',
              code: fault,
            },
          },
        });
      }
      const hook = this.hooks.get(endpoint);
      this.hooks.delete(endpoint);
      await hook?.();
      let reply: Reply;
      try {
        reply = await this.route(req, url, endpoint, body);
      } catch (error) {
        if (!(error instanceof Answer)) throw error;
        reply = error.reply;
      }
      if (fault === 'reset-after') return void req.socket.destroy();
      if (fault === 'hang-after') return;
      send(res, reply);
    } catch (error) {
      send(res, {
        status: 500,
        body: { error: { message: `stand-in failure: ${String(error)}`, type: 'internal_server_error' } },
      });
    } finally {
      this.inFlight--;
      if (--busy.active === 0) {
        this.busyMs.set(endpoint, (this.busyMs.get(endpoint) ?? 0) + performance.now() - busy.since);
      }
    }
  }

  private tableRowsForCost(): Promise<number> {
    const now = performance.now();
    if (!this.tableRows || now - this.tableRows.at > TABLE_ROWS_TTL_MS) {
      this.tableRows = { count: this.table.count(), at: now };
    }
    return this.tableRows.count;
  }

  private async route(req: IncomingMessage, url: URL, endpoint: string, raw: string): Promise<Reply> {
    switch (endpoint) {
      case 'GET /health/liveliness':
      case 'GET /health/liveness':
        return { status: 200, body: "I'm alive!" };
      case 'GET /health/readiness':
        return this.readiness(this.versionIsPublic());
      case 'GET /health/readiness/details':
        await this.requireAdmin(req, url.pathname);
        return this.readiness(true);
      case 'GET /v1/models':
      case 'GET /models':
        return this.listModels(req, url.pathname);
      case 'GET /model/info':
      case 'GET /v1/model/info':
        return this.modelInfo(req, url.pathname);
      case 'POST /v1/chat/completions':
      case 'POST /chat/completions':
        return this.chatCompletion(req, url.pathname, raw);
    }
    const known = [
      'POST /key/generate',
      'GET /key/info',
      'POST /v2/key/info',
      'GET /key/list',
      'POST /key/delete',
      'POST /key/update',
      'POST /key/block',
      'POST /key/unblock',
      'POST /config/field/update',
    ];
    if (!known.includes(endpoint)) return { status: 404, body: { detail: 'Not Found' } };
    await this.requireAdmin(req, url.pathname);
    this.refuseWithoutDatabase(false);
    const body = req.method === 'POST' ? parseJson(raw) : {};
    switch (endpoint) {
      case 'POST /key/generate':
        return this.generate(body);
      case 'GET /key/info':
        return this.info(url);
      case 'POST /v2/key/info':
        return this.infoMany(body);
      case 'GET /key/list':
        return this.list(url);
      case 'POST /key/delete':
        return this.delete(body);
      case 'POST /key/update':
        return this.update(body);
      case 'POST /config/field/update':
        return this.updateConfigField(body);
      default: // POST /key/block and /key/unblock
        return this.block(body, endpoint === 'POST /key/block');
    }
  }

  private bearer(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization ?? req.headers['x-litellm-api-key'];
    const value = Array.isArray(header) ? header[0] : header;
    return value?.replace(/^bearer\s+/i, '').trim() || undefined;
  }

  private versionIsPublic(): boolean {
    const shownOn = this.settings.readinessDetails ?? this.release.versionShownOn;
    return shownOn === 'public' || shownOn === 'readiness';
  }

  /**
   * A proxy with its database down either fails the probe (503, FastAPI's `detail`) or, from
   * `service-unavailable` on, answers 200 with the cached DB check's `status: "disconnected"`
   * spread over the body (whose `db` still says "connected").
   */
  private readiness(details: boolean): Reply {
    const down = this.settings.databaseDown;
    if (down && this.release.databaseOutage === 'auth-error') {
      return { status: 503, body: { detail: 'Service Unhealthy (All connection attempts failed)' } };
    }
    const body: Json = details
      ? {
          status: 'healthy',
          db: 'connected',
          cache: null,
          litellm_version: this.settings.version ?? this.release.version,
          success_callbacks: [],
        }
      : { status: 'healthy', db: 'connected' };
    return { status: 200, body: down ? { ...body, status: 'disconnected' } : body };
  }

  /**
   * What a call that needs the database answers while it is down: a virtual key's auth, or a
   * management route's own query (the master key itself needs no database).
   */
  private refuseWithoutDatabase(inAuth: boolean): void {
    if (!this.settings.databaseDown) return;
    if (this.release.databaseOutage === 'service-unavailable') {
      throw proxyError(
        503,
        'Service Unavailable, the authentication database is temporarily unreachable. Please retry shortly.',
        'no_db_connection',
      );
    }
    // Before, the Prisma error surfaced as is (BerriAI/litellm#19921 on v1.81).
    throw inAuth
      ? proxyError(401, 'Authentication Error, All connection attempts failed', 'auth_error')
      : proxyError(500, 'All connection attempts failed', 'internal_server_error');
  }

  /**
   * Management routes take the master key, or a virtual key whose owner's `user_role` is
   * `proxy_admin` (LiteLLM then treats the key as an admin) once its `allowed_routes` let it on the
   * route. An `sk-` token that is neither the master key nor a stored key fails in auth, before any
   * route, as every release answers an unknown key (a rotated or mistyped master key among them).
   */
  private async requireAdmin(req: IncomingMessage, route: string): Promise<void> {
    const token = this.bearer(req);
    if (token === this.options.masterKey) return;
    refuseMalformed(token);
    this.refuseWithoutDatabase(true);
    const row = await this.table.get(hash(token));
    if (row) {
      this.admit(row, token, route);
      if ((await this.table.userRole(row.user_id)) === 'proxy_admin') return;
      throw proxyError(401, 'Authentication Error, only proxy admins may manage keys.', 'auth_error');
    }
    throw proxyError(
      401,
      `Authentication Error, Invalid proxy server token passed. Received API Key = sk-...${token.slice(-4)}, Key Hash (Token) =${hash(token)}. Unable to find token in cache or \`LiteLLM_VerificationTokenTable\``,
      'token_not_found_in_db',
      'key',
    );
  }

  /** The models a caller sees: all for the master key; a virtual key's own, or all when it names none. */
  private async visibleModels(req: IncomingMessage, route: string): Promise<string[]> {
    const token = this.bearer(req);
    if (token === this.options.masterKey) return this.models;
    const row = await this.authenticate(token, route);
    return row.models.length > 0 ? row.models : this.models;
  }

  /** `/v1/models` and `/models`: since PR #42825 without undiscoverable models, for every caller (unverified for the master key). */
  private async listModels(req: IncomingMessage, route: string): Promise<Reply> {
    const hidden = this.release.hidesUndiscoverableModels ? this.settings.undiscoverableModels : [];
    const models = (await this.visibleModels(req, route)).filter((model) => !hidden.includes(model));
    return {
      status: 200,
      body: {
        data: models.map((id) => ({ id, object: 'model', created: 1677610602, owned_by: 'openai' })),
        object: 'list',
      },
    };
  }

  /** `/model/info` (an info route any key may call): the deployments of the models the caller sees. */
  private async modelInfo(req: IncomingMessage, route: string): Promise<Reply> {
    const visible = await this.visibleModels(req, route);
    return {
      status: 200,
      body: {
        data: this.models.flatMap((name, i) =>
          visible.includes(name)
            ? [
                {
                  model_name: name,
                  litellm_params: { model: `openai/${name}` },
                  model_info: { id: `model-${i + 1}` },
                },
              ]
            : [],
        ),
      },
    };
  }

  /**
   * `/v1/chat/completions`: a canned OpenAI-shaped completion, so a lab user's key can be tried
   * end to end. The key passes LiteLLM's auth checks first (blocked, expired, unknown: their 401s;
   * over budget). A model the key may not use is refused as `_can_object_call_model` does
   * (BerriAI/litellm, litellm/proxy/auth/auth_checks.py): 401, type `key_model_access_denied`,
   * the key's models in Python's list notation. A model the proxy does not serve, for a key that
   * may use any, is the router's 400 (its message unverified).
   */
  private async chatCompletion(req: IncomingMessage, route: string, raw: string): Promise<Reply> {
    const token = this.bearer(req);
    const allowed = token === this.options.masterKey ? [] : (await this.authenticate(token, route)).models;
    const body = parseJson(raw);
    const model = typeof body.model === 'string' ? body.model : undefined;
    if (allowed.length > 0 && (model === undefined || !allowed.includes(model))) {
      const listed = `[${allowed.map((name) => `'${name}'`).join(', ')}]`;
      throw proxyError(
        401,
        `key not allowed to access model. This key can only access models=${listed}. Tried to access ${model ?? 'None'}`,
        'key_model_access_denied',
        'model',
      );
    }
    if (model === undefined || !this.models.includes(model)) {
      throw proxyError(
        400,
        `Invalid model name passed in model=${model ?? 'None'}. Call \`/v1/models\` to view available models for your key.`,
        'invalid_request_error',
        'model',
      );
    }
    const prompt = JSON.stringify(body.messages ?? []);
    const content = `A canned answer from the LiteLLM stand-in, as ${model}.`;
    const [promptTokens, completionTokens] = [Math.ceil(prompt.length / 4), Math.ceil(content.length / 4)];
    return {
      status: 200,
      body: {
        id: `chatcmpl-${randomBytes(12).toString('hex')}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      },
    };
  }

  /** How LiteLLM's auth treats a virtual key on an LLM or info route. */
  private async authenticate(token: string | undefined, route: string): Promise<KeyRow> {
    refuseMalformed(token);
    this.refuseWithoutDatabase(true);
    const token_hash = hash(token);
    const entry = this.replicaCache.get(token_hash);
    const cached = entry && entry.until > Date.now() && this.faults.rates.replicaAuthCacheMs > 0;
    const row = cached ? entry.row : await this.table.get(token_hash);
    if (!row) {
      throw proxyError(
        401,
        `Authentication Error, Invalid proxy server token passed. key=${token_hash}, not found in db. Create key via \`/key/generate\` call.`,
        'token_not_found_in_db',
        'key',
      );
    }
    this.admit(row, token, route);
    if (this.faults.rates.replicaAuthCacheMs > 0 && !cached) {
      this.replicaCache.set(token_hash, { row, until: Date.now() + this.faults.rates.replicaAuthCacheMs });
    }
    return row;
  }

  /**
   * LiteLLM's checks of a stored key, in its order: blocked, expired, over its budget (LLM API
   * routes only), then its `allowed_routes`.
   */
  private admit(row: KeyRow, token: string, route: string): void {
    if (row.blocked) {
      throw proxyError(
        401,
        "Authentication Error, Key is blocked. Update via `/key/unblock` if you're an admin.",
        'auth_error',
      );
    }
    if (row.expires && new Date(`${row.expires}Z`).getTime() < Date.now()) {
      throw proxyError(
        401,
        `Authentication Error - Expired Key. Key Expiry time ${row.expires} and current time ${new Date().toISOString()}`,
        'expired_key',
        `sk-...${token.slice(-4)}`,
      );
    }
    if (OPENAI_ROUTES.includes(route) && row.max_budget !== null && row.spend >= row.max_budget) {
      // A 400 before PR #31300 (v1.93.0), 429 since, 422 since PR #42097 (v1.104.0).
      const status = this.release.overBudgetStatus;
      throw proxyError(
        status,
        status !== 400
          ? `Budget has been exceeded! Current cost: ${row.spend}, Max budget: ${row.max_budget}. Key=sk-...${token.slice(-4)}`
          : `ExceededTokenBudget: Current spend for token: ${row.spend}; Max Budget for Token: ${row.max_budget}`,
        'budget_exceeded',
        null,
      );
    }
    this.refuseRoute(row, route);
  }

  /**
   * A key's `allowed_routes` bind it on every route, checked before any role, so they bind a key
   * whose owner is a proxy admin too (BerriAI/litellm#37810). The 403 is FastAPI's `detail` body,
   * as current releases raise it; older ones raised a plain Exception (status unverified).
   */
  private refuseRoute(row: KeyRow, route: string): void {
    const allowed = row.allowed_routes ?? [];
    if (allowed.length === 0 || allowsRoute(allowed, route, this.release)) return;
    const listed = `[${allowed.map((entry) => `'${entry}'`).join(', ')}]`;
    throw new Answer({
      status: 403,
      body: {
        detail: `Virtual key is not allowed to call this route. Only allowed to call routes: ${listed}. Tried to call route: ${route}`,
      },
    });
  }

  /**
   * The operator's refusals of a caller-chosen key, as LiteLLM wraps an HTTPException raised in a
   * key endpoint: 403, the detail's repr as message, a generic type.
   */
  private refuseByPolicy(operation: 'generate' | 'update', body: Json): void {
    const customKey = operation === 'generate' && typeof body.key === 'string';
    if (customKey && this.customKeysDisabled()) {
      throw proxyError(
        403,
        "{'error': 'Custom API key values are disabled by your administrator. Keys must be auto-generated.'}",
        'internal_server_error',
      );
    }
    const verdict = this.release.customKeyPolicy
      ? this.settings.customKeyPolicy?.(operation, body)
      : undefined;
    if (verdict && !verdict.decision) {
      throw proxyError(
        403,
        verdict.message ?? 'Key request denied by custom_key_policy',
        'internal_server_error',
      );
    }
  }

  /** `disable_custom_api_keys` as the worker answering enforces it. */
  private customKeysDisabled(): boolean {
    if (!this.release.customKeySwitch) return false;
    const declared = this.settings.configDisableCustomApiKeys;
    if (this.release.customKeySwitchEverywhere && declared !== undefined) return declared;
    const stale = this.staleCustomKeySwitch;
    return stale && stale.until > Date.now() ? stale.value : this.settings.disableCustomApiKeys;
  }

  /**
   * `/config/field/update` for `general_settings.disable_custom_api_keys`, as the Admin UI sets
   * it; the stand-in models no other field. Since v1.103 a value config.yaml declares is
   * read-only (the 400's text is unverified).
   */
  private updateConfigField(body: Json): Reply {
    if (body.field_name !== 'disable_custom_api_keys' || body.config_type !== 'general_settings') {
      throw proxyError(
        400,
        `stand-in: field ${String(body.field_name)} is not modelled`,
        'bad_request_error',
      );
    }
    if (this.release.configWins && this.settings.configDisableCustomApiKeys !== undefined) {
      throw proxyError(
        400,
        'disable_custom_api_keys is set in config.yaml and cannot be changed at runtime. Edit config.yaml instead.',
        'bad_request_error',
        'field_name',
      );
    }
    const delayMs = this.release.customKeySwitchEverywhere ? 0 : this.settings.uiSettingDelayMs;
    if (delayMs > 0) {
      this.staleCustomKeySwitch = { value: this.customKeysDisabled(), until: Date.now() + delayMs };
    }
    this.settings.disableCustomApiKeys = body.field_value === true || body.field_value === 'true';
    return { status: 200, body: { message: 'Successfully updated field disable_custom_api_keys' } };
  }

  /**
   * LiteLLM's `key_alias` format refusal, checked before the duplicate check and in the same
   * shape: 400 `bad_request_error` on `key_alias`.
   */
  private refuseAliasFormat(alias: string): void {
    const check = this.release.aliasFormatCheck;
    const pattern = check === 'configurable' ? this.settings.keyAliasPattern : undefined;
    if (pattern !== undefined) {
      // Python's re.fullmatch on an alias of at most 255 characters.
      if (alias.length <= 255 && new RegExp(`^(?:${pattern})$`).test(alias)) return;
      throw proxyError(
        400,
        `Invalid key_alias format. Must be at most 255 characters and match the configured key_alias_pattern: ${pattern}`,
        'bad_request_error',
        'key_alias',
      );
    }
    if (check === 'none' || !this.settings.keyAliasFormatValidation || FIXED_ALIAS_RULE.test(alias)) return;
    throw proxyError(
      400,
      'Invalid key_alias format. Must be 2-255 characters, start/end with alphanumeric, and only contain a-zA-Z0-9_-/.@.',
      'bad_request_error',
      'key_alias',
    );
  }

  private async generate(body: Json): Promise<Reply> {
    const allowedRoutes = allowedRoutesOf(body);
    this.refuseByPolicy('generate', body);
    const raw = typeof body.key === 'string' ? body.key : `sk-${randomBytes(16).toString('base64url')}`;
    if (!raw.startsWith('sk-')) {
      throw proxyError(
        400,
        `Invalid key format. LiteLLM Virtual Key must start with 'sk-'. Received: ${abbreviate(raw)}`,
        'bad_request_error',
      );
    }
    let expires: Date | null = null;
    if (body.duration !== undefined && body.duration !== null) {
      const duration = parseDuration(String(body.duration));
      if (!duration) {
        const unit = /^\d+[a-z]+$/i.test(String(body.duration));
        throw proxyError(
          500,
          unit
            ? `Unsupported duration unit, passed duration: ${String(body.duration)}`
            : 'Invalid duration format',
          'internal_server_error',
        );
      }
      expires = addDuration(new Date(), duration);
    }
    if (typeof body.max_budget === 'number' && body.max_budget < 0) {
      throw proxyError(400, 'max_budget cannot be negative', 'bad_request_error', 'max_budget');
    }
    const alias = typeof body.key_alias === 'string' ? body.key_alias : null;
    if (alias !== null) this.refuseAliasFormat(alias);
    if (alias && (await this.table.firstTokenWithAlias(alias))) {
      throw proxyError(
        400,
        `Key with alias '${alias}' already exists. Unique key aliases across all keys are required.`,
        'bad_request_error',
        'key_alias',
      );
    }
    // LiteLLM checks the alias and inserts in separate statements, with no transaction.
    if (this.faults.rates.aliasRaceGapMs > 0) await sleep(this.faults.rates.aliasRaceGapMs);
    this.issuedKeys.add(raw);
    recordSecret(raw);
    const token = hash(raw);
    const models = Array.isArray(body.models) ? body.models.map(String) : [];
    const metadata = (body.metadata && typeof body.metadata === 'object' ? body.metadata : {}) as Json;
    await this.table.insert({
      token,
      key_name: `sk-...${raw.slice(-4)}`,
      key_alias: alias,
      expires,
      models,
      metadata,
      user_id: typeof body.user_id === 'string' ? body.user_id : null,
      max_budget: typeof body.max_budget === 'number' ? body.max_budget : null,
      tpm_limit: typeof body.tpm_limit === 'number' ? body.tpm_limit : null,
      rpm_limit: typeof body.rpm_limit === 'number' ? body.rpm_limit : null,
      allowed_routes: allowedRoutes,
      created_by: 'default_user_id',
    });
    const now = new Date().toISOString();
    const { key_type, ...sent } = body;
    return {
      status: 200,
      body: {
        ...sent,
        key: raw,
        key_name: `sk-...${raw.slice(-4)}`,
        token: token,
        token_id: token,
        key_alias: alias,
        expires: expires ? expires.toISOString() : null,
        models,
        metadata,
        allowed_routes: allowedRoutes,
        created_by: 'default_user_id',
        updated_by: 'default_user_id',
        created_at: now,
        updated_at: now,
        litellm_budget_table: null,
      },
    };
  }

  private async info(url: URL): Promise<Reply> {
    const key = url.searchParams.get('key');
    if (!key) throw proxyError(404, 'Key not found in database', 'not_found_error', 'key');
    const token = key.startsWith('sk-') ? hash(key) : key;
    const row = await this.table.get(token);
    const reportsStatus = this.release.servesDeletedKeys;
    if (row) {
      const info = { ...keyObject(row, false, this.release), litellm_budget_table: null };
      return {
        status: 200,
        body: { key, info: reportsStatus ? { ...info, status: liveStatus(row) } : info },
      };
    }
    // Since PR #41311 a deleted key is read back from the deleted-keys table, as deleted.
    const deleted = reportsStatus ? await this.table.lastDeleted(token) : undefined;
    if (!deleted) throw proxyError(404, 'Key not found in database', 'not_found_error', 'key');
    const { deleted_at, deleted_by, ...row_ } = deleted;
    return {
      status: 200,
      body: {
        key,
        info: {
          ...keyObject(row_, false, this.release),
          litellm_budget_table: null,
          status: 'deleted',
          deleted_at: litellmTime(deleted_at),
          deleted_by,
        },
      },
    };
  }

  /** The hidden bulk variant: rows of the keys it holds (with their token), the others left out. */
  private async infoMany(body: Json): Promise<Reply> {
    if (!Array.isArray(body.keys)) {
      throw proxyError(422, "{'message': 'Malformed request. No keys passed in.'}", 'internal_server_error');
    }
    const keys = body.keys.map(String);
    const rows = await this.table.getMany(keys.map((k) => (k.startsWith('sk-') ? hash(k) : k)));
    return { status: 200, body: { key: keys, info: rows.map((row) => keyObject(row, true, this.release)) } };
  }

  private async list(url: URL): Promise<Reply> {
    const q = url.searchParams;
    const page = Number(q.get('page') ?? 1);
    const size = Number(q.get('size') ?? 10);
    if (!Number.isInteger(page) || page < 1) {
      throw validationError(
        ['query', 'page'],
        'Input should be greater than or equal to 1',
        'greater_than_equal',
      );
    }
    if (!Number.isInteger(size) || size < 1 || size > 100) {
      throw validationError(
        ['query', 'size'],
        'Input should be less than or equal to 100',
        'less_than_equal',
      );
    }
    const sortBy = q.get('sort_by') ?? 'created_at';
    if (!['spend', 'max_budget', 'created_at', 'updated_at', 'token', 'key_alias'].includes(sortBy)) {
      throw proxyError(400, `Invalid sort_by value: ${sortBy}`, 'bad_request_error');
    }
    const order = q.get('sort_order') ?? 'desc';
    if (order !== 'asc' && order !== 'desc') {
      throw proxyError(400, `Invalid sort_order value: ${order}`, 'bad_request_error');
    }
    const filter: ListFilter = {};
    const status = q.get('status');
    if (status !== null) {
      if (!this.release.statusValues.includes(status)) {
        const allowed = this.release.statusValues;
        throw proxyError(
          400,
          allowed.length === 1
            ? "Invalid status value. Currently only 'deleted' is supported."
            : `Invalid status value: ${status}. Must be one of ${allowed.map((v) => `'${v}'`).join(', ')}.`,
          'bad_request_error',
          'status',
        );
      }
      filter.status = status as ListFilter['status'];
    }
    const expires = q.get('expires');
    if (expires !== null && this.expiresFilter !== 'ignored') {
      if (this.expiresFilter === 'refused' || (expires !== 'expired' && expires !== 'active')) {
        throw proxyError(
          400,
          `Invalid expires value: ${expires}. Must be one of 'expired', 'active'.`,
          'bad_request_error',
          'expires',
        );
      }
      filter.expires = expires;
    }
    for (const name of ['user_id', 'team_id', 'key_alias', 'key_hash', 'organization_id'] as const) {
      const value = q.get(name);
      if (value !== null) filter[name] = value;
    }
    filter.substring = this.substringMatching(q);
    const { rows, total } = await this.table.list(filter, page, size, sortBy, order);
    const full = q.get('return_full_object') === 'true' || q.get('expand') !== null;
    return {
      status: 200,
      body: {
        keys: full ? rows.map((row) => this.listed(row)) : rows.map((row) => row.token),
        total_count: total,
        current_page: page,
        total_pages: Math.ceil(total / size),
      },
    };
  }

  /** Whether `key_alias` and `user_id` match as case-insensitive substrings (the caller is always an admin here). */
  private substringMatching(q: URLSearchParams): boolean {
    switch (this.release.aliasMatching) {
      case 'exact':
        return false;
      case 'substring':
        return true;
      case 'exact-unless-asked':
        return q.get('substring_matching') === 'true';
    }
  }

  private listed(row: KeyRow & { deleted_at?: string | null; deleted_by?: string | null }): Json {
    const { deleted_at, deleted_by, ...key } = row;
    return {
      ...keyObject(key, true, this.release),
      ...(deleted_at === undefined ? {} : { deleted_at: litellmTime(deleted_at), deleted_by }),
    };
  }

  private async delete(body: Json): Promise<Reply> {
    const keys = Array.isArray(body.keys) ? body.keys.map(String) : undefined;
    const aliases = Array.isArray(body.key_aliases) ? body.key_aliases.map(String) : undefined;
    if (!keys && !aliases) {
      throw validationError(
        ['body'],
        "Value error, At least one of 'keys' or 'key_aliases' must be provided.",
      );
    }
    const tokens = keys
      ? await this.table.tokensFor(
          keys.map((k) => (k.startsWith('sk-') ? hash(k) : k)),
          [],
        )
      : await this.table.tokensFor([], aliases ?? []);
    if (tokens.length === 0) throw proxyError(404, "{'error': 'No keys found'}", 'internal_server_error');
    if (!this.faults.rates.stickyDelete) {
      await this.table.deleteWithAudit(tokens, 'default_user_id', hash(this.options.masterKey));
    }
    return { status: 200, body: { deleted_keys: keys ?? aliases } };
  }

  private async update(body: Json): Promise<Reply> {
    if (typeof body.key !== 'string') throw validationError(['body', 'key'], 'Field required', 'missing');
    const token = body.key.startsWith('sk-') ? hash(body.key) : body.key;
    const row = await this.table.get(token);
    if (!row && this.release.updateUnknownKeyStatus === 401) {
      // The Prisma helper's "not found", wrapped by update_key_fn as an auth_error.
      throw proxyError(
        401,
        `Authentication Error: invalid user key - user key does not exist in db. User Key=${body.key}`,
        'auth_error',
      );
    }
    if (!row) throw proxyError(404, `{'error': 'Key not found: ${body.key}'}`, 'auth_error');
    this.refuseByPolicy('update', body);
    const changes: Record<string, unknown> = {};
    if ('duration' in body) {
      const text = body.duration === null ? null : String(body.duration);
      if (text === null || text === '-1') changes.expires = null;
      else {
        const duration = parseDuration(text);
        if (!duration) throw proxyError(500, 'Invalid duration format', 'internal_server_error');
        changes.expires = addDuration(new Date(), duration);
      }
    }
    // An alias left as it is is not checked again (keys named before a pattern stay editable).
    if (typeof body.key_alias === 'string' && body.key_alias !== row.key_alias) {
      this.refuseAliasFormat(body.key_alias);
    }
    if (typeof body.key_alias === 'string' && (await this.table.firstTokenWithAlias(body.key_alias, token))) {
      throw proxyError(
        400,
        `Key with alias '${body.key_alias}' already exists. Unique key aliases across all keys are required.`,
        'bad_request_error',
        'key_alias',
      );
    }
    for (const column of [
      'metadata',
      'models',
      'max_budget',
      'key_alias',
      'blocked',
      'user_id',
      'tpm_limit',
      'rpm_limit',
      'allowed_routes',
    ]) {
      if (column in body) changes[column] = body[column];
    }
    await this.table.update(token, changes);
    const updated = (await this.table.get(token)) as KeyRow;
    return { status: 200, body: { key: body.key, ...keyObject(updated, true, this.release) } };
  }

  private async block(body: Json, blocked: boolean): Promise<Reply> {
    if (typeof body.key !== 'string') throw validationError(['body', 'key'], 'Field required', 'missing');
    const token = body.key.startsWith('sk-') ? hash(body.key) : body.key;
    if (!(await this.table.get(token))) throw proxyError(404, `Key ${body.key} not found`, 'not_found_error');
    await this.table.update(token, { blocked });
    return { status: 200, body: keyObject((await this.table.get(token)) as KeyRow, true, this.release) };
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(raw: string): Json {
  try {
    const value = JSON.parse(raw || '{}');
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Json;
  } catch {
    // FastAPI answers a body it cannot parse with 422, as below.
  }
  throw validationError(['body'], 'JSON decode error', 'json_invalid');
}

function send(res: ServerResponse, reply: Reply): void {
  const body = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
