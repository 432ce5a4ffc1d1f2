/**
 * One catalog item: version selector, README, and the form generated from its schema.json and ui.json with live
 * validation. Launching creates the job and opens its page; the server's 422 errors are shown on their fields.
 * `?from_job=ID` pre-fills the form with that job's inputs ("Run again").
 */
import Form from "@rjsf/core";
import type { ErrorSchema, RJSFSchema, UiSchema } from "@rjsf/utils";
import validator from "@rjsf/validator-ajv8";
import { useMemo, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { useMe } from "../api/auth";
import { useCatalogItem, useDescriptor, useItemVersions, useSetNetworkAccess } from "../api/catalog";
import { ApiError } from "../api/client";
import { useJob, useLaunchJob } from "../api/jobs";
import { ProblemPage } from "../components/ErrorBoundary";
import { buttonTemplates } from "../components/formTemplates";
import { Markdown } from "../components/Markdown";
import { useToast } from "../components/toasts";
import { Spinner } from "../components/ui";
import { hasRole } from "../lib/auth";
import { describeNetwork, withoutRepeatedHeader, withRunButton } from "../lib/catalog";
import { toErrorSchema } from "../lib/formErrors";
import { transformErrorsFor } from "../lib/formMessages";

type Inputs = Record<string, unknown>;

/** Inputs marked writeOnly or format: password are typed into password fields (the author's ui.json may differ). */
function withPasswordWidgets(schema: RJSFSchema, ui: UiSchema): UiSchema {
  const properties = (schema.properties ?? {}) as Record<string, { writeOnly?: boolean; format?: string }>;
  const out: UiSchema = { ...ui };
  for (const [name, spec] of Object.entries(properties)) {
    if ((spec.writeOnly === true || spec.format === "password") && !(ui[name] as UiSchema | undefined)?.["ui:widget"]) {
      out[name] = { ...((ui[name] as UiSchema | undefined) ?? {}), "ui:widget": "password" };
    }
  }
  return out;
}

/** The states whose versions run (the others are shown to publishers only, and cannot be picked). */
const RUNS = new Set(["active", "deprecated"]);

export default function ItemPage() {
  const { itemId = "", version: versionParam } = useParams();
  const [search] = useSearchParams();
  const fromJob = Number(search.get("from_job")) || null;
  const navigate = useNavigate();
  const toast = useToast();
  const me = useMe();

  const versions = useItemVersions(itemId);
  const item = useCatalogItem(itemId);
  const runnable = (versions.data ?? []).filter((v) => RUNS.has(v.status));
  const latest = runnable.find((v) => v.status === "active") ?? runnable[0];
  // Offered first: the version its maintainers promoted to stable, else the latest release.
  const stable = runnable.find((v) => v.channels?.includes("stable"));
  const version = versionParam ?? (stable ?? latest)?.version;

  const descriptor = useDescriptor(itemId, version);
  const source = useJob(fromJob ?? 0, { enabled: fromJob !== null });

  const [formData, setFormData] = useState<Inputs | undefined>(undefined);
  const [serverErrors, setServerErrors] = useState<ErrorSchema | undefined>(undefined);
  const [serverMessage, setServerMessage] = useState<string | null>(null);
  // "Run again": the other job's inputs, without the sensitive ones (they were never stored: "***").
  const from = source.data?.item_id === itemId ? source.data : undefined;
  const masked = new Set(from?.masked_inputs ?? []);
  const previous = from
    ? (Object.fromEntries(Object.entries(from.inputs).filter(([name]) => !masked.has(name))) as Inputs)
    : undefined;
  const initial = formData ?? previous;

  const launch = useLaunchJob({
    onSuccess: (job) => {
      toast(`Job #${job.id} queued`);
      navigate(`/jobs/${job.id}`);
    },
    onError: (error) => {
      if (error instanceof ApiError && error.status === 422 && error.problems.length) {
        setServerErrors(toErrorSchema(error.problems));
        setServerMessage(error.message);
      } else {
        setServerMessage(error.message);
        toast(error.message, "error");
      }
    },
  });

  const network = useSetNetworkAccess(itemId, {
    onSuccess: (access) => toast(access.allowed ? "Network access allowed" : "Network access withdrawn"),
    onError: (error) => toast(error.message, "error"),
  });

  const manifest = descriptor.data?.manifest as
    | { name?: string; displayName?: string; description?: string; owner?: string; approval?: unknown }
    | undefined;
  const rawSchema = descriptor.data?.schema as RJSFSchema | undefined;
  const schema = useMemo(() => rawSchema && withoutRepeatedHeader(rawSchema, manifest?.description), [rawSchema, manifest?.description]);
  // Errors in words, named by the fields' titles: the same as the server's 422 (rawSchema: the root's title too).
  const transformErrors = useMemo(() => transformErrorsFor(rawSchema ?? {}), [rawSchema]);
  const itemName = manifest?.displayName ?? manifest?.name ?? itemId;
  const uiSchema = useMemo(
    () => withRunButton(withPasswordWidgets((descriptor.data?.schema ?? {}) as RJSFSchema, (descriptor.data?.ui_schema ?? {}) as UiSchema), itemName),
    [descriptor.data, itemName],
  );
  const selected = versions.data?.find((v) => v.version === version);

  if (versions.isError) {
    const missing = versions.error instanceof ApiError && versions.error.status === 404;
    return (
      <ProblemPage title={missing ? "No such item" : "The item could not be loaded"}>
        <p>{missing ? `The catalog has no item called “${itemId}”.` : versions.error.message}</p>
        <Link to="/catalog" className="link mt-3 inline-block">
          Back to the catalog
        </Link>
      </ProblemPage>
    );
  }
  if (versions.isPending || (version && descriptor.isPending) || (fromJob && source.isPending)) return <Spinner />;
  if (!version) return <ProblemPage title="This item has no active version" />;
  if (descriptor.isError) {
    const missing = descriptor.error instanceof ApiError && descriptor.error.status === 404;
    return (
      <ProblemPage title={missing ? `No version ${version} of ${itemId}` : "This version could not be loaded"}>
        <p>{missing ? "The item has no such version, or it cannot be run." : descriptor.error.message}</p>
        <Link to={`/catalog/${encodeURIComponent(itemId)}`} className="link mt-3 inline-block">
          Back to the item
        </Link>
      </ProblemPage>
    );
  }

  const canRun = hasRole(me.data?.role, "requester") && selected !== undefined && RUNS.has(selected.status);

  return (
    <article aria-labelledby="item-title">
      <nav aria-label="Breadcrumb" className="mb-2 text-sm muted">
        <Link to="/catalog" className="link">
          Catalog
        </Link>{" "}
        / {itemId}
      </nav>
      <div className="mb-6 flex flex-wrap items-start justify-between gap-4">
        <div>
          <h1 id="item-title" className="text-2xl font-semibold">
            {item.data?.name ?? manifest?.displayName ?? manifest?.name ?? itemId}
          </h1>
          {(item.data?.description || manifest?.description) && (
            <p className="mt-1 max-w-2xl muted">{item.data?.description || manifest?.description}</p>
          )}
        </div>
        <div>
          <label htmlFor="version" className="mb-1 block text-sm font-medium">
            Version
          </label>
          <select
            id="version"
            className="input w-56"
            value={version}
            onChange={(e) => {
              setFormData(undefined);
              setServerErrors(undefined);
              navigate(`/catalog/${encodeURIComponent(itemId)}/${encodeURIComponent(e.target.value)}${fromJob ? `?from_job=${fromJob}` : ""}`);
            }}
          >
            {(versions.data ?? []).map((v) => (
              <option key={v.version} value={v.version} disabled={!RUNS.has(v.status)}>
                {v.version}
                {v.channels?.includes("stable") ? " (stable)" : ""}
                {v.version === latest?.version ? " (latest)" : ""}
                {v.deprecated ? " (deprecated)" : ""}
                {!RUNS.has(v.status) ? ` (${v.status.replace("_", " ")})` : ""}
              </option>
            ))}
          </select>
        </div>
      </div>
      {item.data?.notice && (
        <p role="note" data-testid="item-notice" className="mb-4 rounded-md border border-accent-600 bg-accent-50 p-3 text-sm text-stone-900 dark:bg-accent-800/20 dark:text-stone-100">
          <span className="font-medium">Note from its maintainers:</span> {item.data.notice}
        </p>
      )}
      {typeof manifest?.approval === "object" && (
        <p role="note" className="mb-4 rounded-md border border-violet-300 bg-violet-50 p-3 text-sm text-violet-900 dark:border-violet-800 dark:bg-violet-950 dark:text-violet-200">
          Runs of this item wait for approval before they start.
        </p>
      )}
      {describeNetwork(descriptor.data?.network) && (
        <div
          role="note"
          className={`mb-4 flex flex-wrap items-center justify-between gap-3 rounded-md border p-3 text-sm ${descriptor.data?.network_allowed ? "border-sky-300 bg-sky-50 text-sky-900 dark:border-sky-800 dark:bg-sky-950 dark:text-sky-200" : "border-amber-300 bg-amber-50 text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200"}`}
        >
          <p>
            This version needs network access ({describeNetwork(descriptor.data?.network)}).{" "}
            {descriptor.data?.network_allowed
              ? "An administrator allowed it; its jobs still never reach the portal's own services."
              : "An administrator has not allowed it: its jobs are refused until then."}
          </p>
          {hasRole(me.data?.role, "admin") && (
            <button
              type="button"
              className="btn"
              disabled={network.isPending}
              onClick={() => network.mutate(!descriptor.data?.network_allowed)}
            >
              {descriptor.data?.network_allowed ? "Withdraw network access" : "Allow network access"}
            </button>
          )}
        </div>
      )}
      {selected?.deprecated && (
        <p role="note" className="mb-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200">
          Version {selected.version} is deprecated: {selected.deprecated}
        </p>
      )}
      <div className="grid gap-6 lg:grid-cols-5">
        <section aria-labelledby="form-title" className="card min-w-0 p-5 lg:col-span-3">
          <h2 id="form-title" className="mb-4 text-lg font-semibold">
            {!canRun ? "What this item asks for" : fromJob ? `Run again (inputs of job #${fromJob})` : "Run this item"}
          </h2>
          {serverMessage && (
            <p role="alert" className="mb-4 rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200">
              {serverMessage}
            </p>
          )}
          {schema && (
            <Form
              key={`${version}-${fromJob ?? ""}`}
              className="rjsf"
              schema={schema}
              uiSchema={uiSchema}
              validator={validator}
              transformErrors={transformErrors}
              formData={initial}
              liveValidate="onChange"
              showErrorList={false}
              noHtml5Validate
              focusOnFirstError
              extraErrors={serverErrors}
              disabled={!canRun || launch.isPending}
              templates={{ ButtonTemplates: buttonTemplates }}
              onChange={(event) => {
                setFormData(event.formData as Inputs);
                if (serverErrors) setServerErrors(undefined);
                if (serverMessage) setServerMessage(null);
              }}
              onSubmit={(event) => launch.mutate({ item_id: itemId, version: version ?? null, inputs: (event.formData ?? {}) as Inputs })}
            />
          )}
          {!canRun && (
            <p className="mt-3 text-sm muted">
              {!selected || !RUNS.has(selected.status) ? "This version cannot run." : "Your role may browse the catalog but not run items."}
            </p>
          )}
        </section>
        <section aria-labelledby="readme-title" className="card min-w-0 p-5 lg:col-span-2">
          <h2 id="readme-title" className="sr-only">
            About this item
          </h2>
          {descriptor.data?.readme ? <Markdown source={descriptor.data.readme} /> : <p className="muted">No README.</p>}
          <dl className="mt-4 grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 border-t border-stone-200 pt-3 text-xs dark:border-stone-800">
            {(item.data?.owner ?? manifest?.owner) && (
              <>
                <dt className="muted">Owner</dt>
                <dd>{item.data?.owner ?? manifest?.owner}</dd>
              </>
            )}
            <dt className="muted">Bundle</dt>
            <dd className="truncate font-mono" title={descriptor.data?.bundle_sha256}>
              {descriptor.data?.bundle_sha256.slice(0, 16)}
            </dd>
            {selected && (
              <>
                <dt className="muted">Imported</dt>
                <dd>
                  {new Date(selected.imported_at).toLocaleString()} by {selected.imported_by}
                </dd>
              </>
            )}
          </dl>
        </section>
      </div>
    </article>
  );
}
