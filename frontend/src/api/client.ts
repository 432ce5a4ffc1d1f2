/** The typed API client: generated types (src/api/schema.d.ts) over openapi-fetch, with CSRF and one error type. */
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Job = Schemas["JobOut"];
export type JobDetail = Schemas["JobDetail"];
export type JobPage = Schemas["JobPage"];
export type JobState = Schemas["JobState"];
export type Item = Schemas["ItemOut"];
export type Descriptor = Schemas["Descriptor"];
export type Version = Schemas["VersionOut"];
export type Me = Schemas["MeOut"];
export type ValidationReport = Schemas["ValidationReport"];
export type ImportReport = Schemas["ImportReport"];
export type LogLine = Schemas["LogLine"];

/** One entry of an error's `details` list, as every endpoint reports them. */
export interface ErrorDetail {
  field?: string;
  file?: string;
  line?: number | null;
  message: string;
}

/** The portal's one error shape, `{"error": {code, message, details, request_id}}`, as an exception. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  readonly requestId: string | null;

  constructor(status: number, code: string, message: string, details: unknown, requestId: string | null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }

  /** The details when they are a list of field or file problems, else an empty list. */
  get problems(): ErrorDetail[] {
    return Array.isArray(this.details) ? (this.details as ErrorDetail[]) : [];
  }

  static from(status: number, body: unknown): ApiError {
    const error = (body as { error?: Record<string, unknown> } | undefined)?.error;
    if (error && typeof error.message === "string") {
      return new ApiError(
        status,
        String(error.code ?? "error"),
        error.message,
        error.details ?? null,
        (error.request_id as string | undefined) ?? null,
      );
    }
    return new ApiError(status, "error", `the server answered ${status}`, null, null);
  }
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The double-submit CSRF token the server set at login (a readable cookie). */
export function csrfToken(): string | null {
  const match = document.cookie.match(/(?:^|;\s*)portal_csrf=([^;]+)/);
  return match?.[1] ? decodeURIComponent(match[1]) : null;
}

const csrf: Middleware = {
  onRequest({ request }) {
    const token = csrfToken();
    if (token && UNSAFE.has(request.method)) request.headers.set("X-CSRF-Token", token);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin, credentials: "same-origin" });
api.use(csrf);

/** The data of an openapi-fetch answer, or the ApiError it carried. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw ApiError.from(response.status, error);
  return data as T;
}
