/** How the portal itself is doing (admin): version, uptime, executor, database, storage, process, HTTP and jobs; refreshed every 10 s. */
import type { ReactNode } from "react";
import { SYSTEM_REFRESH_MS, useHealthDetailed, useSystemStatus } from "../../api/admin";
import { ApiError } from "../../api/client";
import { UsageBar } from "../../components/admin/UsageBar";
import { formatBytes, formatNumber, formatPercent, formatUptime, num, obj, str } from "../../components/admin/format";
import { Badge, Empty, JobLinks, Spinner, TableHead, Time } from "../../components/ui";

function Card({ id, title, children, className = "" }: { id: string; title: string; children: ReactNode; className?: string }) {
  return (
    <section aria-labelledby={id} className={`card p-4 ${className}`}>
      <h2 id={id} className="mb-3 text-sm font-semibold uppercase tracking-wide text-stone-600 dark:text-stone-300">
        {title}
      </h2>
      {children}
    </section>
  );
}

/** Label-value rows; a value of null shows as a dash. */
function Facts({ rows }: { rows: [string, ReactNode][] }) {
  return (
    <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5 text-sm">
      {rows.map(([label, value]) => (
        <div key={label} className="contents">
          <dt className="muted">{label}</dt>
          <dd className="min-w-0 text-right font-medium tabular-nums break-words">{value ?? <span className="muted">—</span>}</dd>
        </div>
      ))}
    </dl>
  );
}

/** One big figure with its label, for the headline numbers of a card. */
function Figure({ value, label }: { value: ReactNode; label: string }) {
  return (
    <div>
      <p className="text-2xl font-semibold tabular-nums">{value}</p>
      <p className="text-xs muted">{label}</p>
    </div>
  );
}

/** The readiness checks of the node that answered, and every API node and worker with its heartbeat and jobs. */
function NodesCard() {
  const health = useHealthDetailed();
  if (!health.data) {
    return (
      <Card id="sys-nodes" title="Nodes" className="sm:col-span-2 xl:col-span-3">
        {health.isError ? <p className="text-sm">{health.error.message}</p> : <Spinner label="Loading the nodes" />}
      </Card>
    );
  }
  const h = health.data;
  return (
    <Card id="sys-nodes" title={`Nodes (${h.mode} mode)`} className="sm:col-span-2 xl:col-span-3">
      <ul className="mb-3 flex flex-wrap gap-2" aria-label="Readiness checks">
        {Object.entries(h.checks).map(([name, status]) => (
          <li key={name}>
            <Badge tone={status === "ok" ? "green" : "red"}>
              {name.replace("_", " ")}: {status}
            </Badge>
          </li>
        ))}
      </ul>
      <div className="overflow-x-auto">
        <table className="cards w-full text-sm">
          <caption className="sr-only">API nodes and workers</caption>
          <TableHead columns={["Node", "Kind", "Heartbeat", "Running jobs"]} />
          <tbody>
            {h.nodes.map((n) => (
              <tr key={n.id} className="border-t border-stone-200 dark:border-stone-700">
                <td className="px-3 py-1.5 font-mono text-xs break-all">
                  <span className={`mr-2 inline-block h-2 w-2 rounded-full ${n.alive ? "bg-green-500" : "bg-stone-400"}`} aria-hidden />
                  {n.id} <span className="muted">({n.alive ? "alive" : n.stopped_at ? "stopped" : "lost"})</span>
                </td>
                <td className="px-3 py-1.5">{n.kind}</td>
                <td className="px-3 py-1.5 tabular-nums">
                  <Time iso={n.heartbeat_at} />
                </td>
                <td className="px-3 py-1.5">
                  {n.running_jobs.length === 0 ? "—" : <JobLinks ids={n.running_jobs} />}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Card>
  );
}

/** The protections the jobs of each running node get (docs/architecture.md, "The sandbox promises"), on or off. */
function IsolationCard() {
  const health = useHealthDetailed();
  const runners = (health.data?.nodes ?? []).filter((n) => n.alive && n.isolation && n.isolation.length > 0);
  return (
    <Card id="sys-isolation" title="Job isolation" className="sm:col-span-2 xl:col-span-3">
      {!health.data ? (
        health.isError ? <p className="text-sm">{health.error.message}</p> : <Spinner label="Loading the job isolation" />
      ) : runners.length === 0 ? (
        <p className="text-sm muted">No node that runs jobs is alive.</p>
      ) : (
        runners.map((n) => {
          const off = (n.isolation ?? []).filter((p) => !p.on);
          return (
            <details key={n.id} className="mb-2" open={off.length > 0 || runners.length === 1}>
              <summary className="cursor-pointer text-sm">
                <span className="font-mono text-xs break-all">{n.id}</span>{" "}
                {off.length === 0 ? (
                  <Badge tone="green">all {n.isolation?.length} protections on</Badge>
                ) : (
                  <Badge tone="red">{off.length} off</Badge>
                )}
              </summary>
              <ul className="mt-2 grid gap-1 text-sm" aria-label={`Protections of ${n.id}`}>
                {(n.isolation ?? []).map((p) => (
                  <li key={p.name} className="flex flex-wrap items-baseline gap-2">
                    <Badge tone={p.on ? "green" : "red"}>{p.on ? "on" : "off"}</Badge>
                    <span className="font-medium">{p.name.replaceAll("_", " ")}</span>
                    <span className="muted min-w-0 break-words">{p.detail}</span>
                  </li>
                ))}
              </ul>
            </details>
          );
        })
      )}
    </Card>
  );
}

export default function SystemPage() {
  const system = useSystemStatus();

  const heading = (
    <div className="mb-4 flex flex-wrap items-end justify-between gap-2">
      <h1 id="system-title" className="text-2xl font-semibold">
        System
      </h1>
      {system.data && (
        <p className="inline-flex items-center gap-2 text-sm muted">
          <span
            aria-hidden
            className={`h-2 w-2 rounded-full ${system.isFetching ? "animate-pulse bg-accent-500" : system.isError ? "bg-red-500" : "bg-green-500"}`}
          />
          <span>
            Updated <Time iso={new Date(system.dataUpdatedAt).toISOString()} /> · every {SYSTEM_REFRESH_MS / 1000} s
          </span>
        </p>
      )}
    </div>
  );

  if (system.isPending) {
    return (
      <section aria-labelledby="system-title">
        {heading}
        <Spinner label="Loading the system status" />
      </section>
    );
  }
  if (system.isError && !system.data) {
    return (
      <section aria-labelledby="system-title">
        {heading}
        <Empty title="The system status could not be loaded">
          {system.error instanceof ApiError && system.error.status === 403 ? "Only admins may see the system status." : system.error.message}
          <div className="mt-3">
            <button type="button" className="btn" onClick={() => void system.refetch()}>
              Try again
            </button>
          </div>
        </Empty>
      </section>
    );
  }

  const s = system.data;
  const database = obj(s.database);
  const pool = obj(database.pool);
  const bus = obj(s.event_bus);
  const storage = obj(s.storage);
  const proc = obj(s.process);
  const http = obj(s.http);
  const jobs = obj(s.jobs);

  const diskTotal = num(storage.disk_total_bytes);
  const diskFree = num(storage.disk_free_bytes);
  const diskUsed = diskTotal != null && diskFree != null ? diskTotal - diskFree : null;
  const errorRate = num(http.error_rate);
  const busStatus = str(bus.status);
  const finishedSince = str(jobs.finished_since);
  const poolFigures = [
    num(pool.size) != null ? `size ${num(pool.size)}` : null,
    num(pool.open) != null ? `${num(pool.open)} open` : null,
    num(pool.checked_out) != null ? `${num(pool.checked_out)} in use` : null,
    num(pool.overflow) ? `${num(pool.overflow)} beyond the size` : null,
  ].filter(Boolean);

  return (
    <section aria-labelledby="system-title">
      {heading}
      {system.isError && (
        <p role="alert" className="mb-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200">
          The last refresh failed ({system.error.message}); these figures are from <Time iso={new Date(system.dataUpdatedAt).toISOString()} />.
        </p>
      )}
      <div className="grid grid-cols-1 gap-4 sm:grid-cols-2 xl:grid-cols-3">
        <Card id="sys-portal" title="Portal">
          <div className="mb-3 grid grid-cols-2 gap-3">
            <Figure value={s.version} label="Version" />
            <Figure value={formatUptime(s.uptime_seconds)} label="Uptime" />
          </div>
          <Facts
            rows={[
              ["Started", <Time iso={s.started_at} />],
              ["Executor", s.executor],
            ]}
          />
        </Card>

        <Card id="sys-http" title="HTTP">
          <div className="mb-3 grid grid-cols-2 gap-3">
            <Figure value={formatNumber(num(http.requests_per_second), 2)} label="Requests per second" />
            <Figure
              value={
                <span className={errorRate != null && errorRate >= 0.05 ? "text-red-700 dark:text-red-400" : undefined}>{formatPercent(errorRate, 2)}</span>
              }
              label="Error rate (5xx)"
            />
          </div>
          <Facts rows={[["Window", num(http.window_seconds) != null ? formatUptime(num(http.window_seconds)) : null]]} />
        </Card>

        <Card id="sys-jobs" title="Jobs">
          <div className="mb-3 grid grid-cols-2 gap-3">
            <Figure value={formatNumber(num(jobs.finished), 0)} label="Finished" />
            <Figure value={formatNumber(num(jobs.per_minute), 2)} label="Per minute" />
          </div>
          {/* From the hourly rollups of every node, not this process's uptime: the start of the previous hour. */}
          <Facts
            rows={[
              [
                "Counted since",
                finishedSince ? (
                  <time dateTime={finishedSince} title={new Date(finishedSince).toLocaleString()}>
                    {new Date(finishedSince).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })} (the previous hour's start, every node)
                  </time>
                ) : null,
              ],
            ]}
          />
        </Card>

        <Card id="sys-database" title="Database">
          <Facts
            rows={[
              ["Dialect", str(database.dialect)],
              ["Size", num(database.size_bytes) != null ? formatBytes(num(database.size_bytes)) : null],
              ["Pool", str(pool.class)],
              ["Connections", poolFigures.length ? poolFigures.join(", ") : null],
            ]}
          />
          {str(database.url) && (
            <p className="mt-2 truncate font-mono text-xs muted" title={str(database.url) ?? undefined}>
              {str(database.url)}
            </p>
          )}
          {str(pool.status) && (
            <details className="mt-2 text-xs">
              <summary className="cursor-pointer muted">Pool status</summary>
              <p className="mt-1 font-mono break-words">{str(pool.status)}</p>
            </details>
          )}
        </Card>

        <Card id="sys-storage" title="Storage">
          <div className="mb-3 grid grid-cols-2 gap-3">
            <Figure value={formatNumber(num(storage.bundles), 0)} label="Bundles" />
            <Figure value={formatBytes(num(storage.bundle_bytes))} label="Bundle bytes" />
          </div>
          {diskTotal != null && diskUsed != null && (
            <div className="mb-3">
              <div className="mb-1 flex justify-between text-xs">
                <span className="muted">Disk</span>
                <span className="tabular-nums">
                  {formatBytes(diskFree)} free of {formatBytes(diskTotal)}
                </span>
              </div>
              <UsageBar used={diskUsed} total={diskTotal} label="Disk space used" />
            </div>
          )}
          {str(storage.data_dir) && (
            <p className="truncate font-mono text-xs muted" title={str(storage.data_dir) ?? undefined}>
              {str(storage.data_dir)}
            </p>
          )}
        </Card>

        <Card id="sys-process" title="Process">
          <div className="mb-3 grid grid-cols-2 gap-3">
            <Figure value={formatBytes(num(proc.rss_bytes))} label="Memory (RSS)" />
            <Figure value={formatNumber(num(proc.threads), 0)} label="Threads" />
          </div>
          <Facts
            rows={[
              ["Peak memory", num(proc.max_rss_bytes) != null ? formatBytes(num(proc.max_rss_bytes)) : null],
              ["PID", str(proc.pid)],
            ]}
          />
        </Card>

        <Card id="sys-bus" title="Event bus">
          <Facts
            rows={[
              ["Kind", str(bus.kind)],
              ["Status", busStatus ? <Badge tone={busStatus === "ok" ? "green" : "red"}>{busStatus}</Badge> : null],
              ["WebSocket clients", num(bus.websocket_clients) != null ? formatNumber(num(bus.websocket_clients), 0) : null],
            ]}
          />
        </Card>

        <NodesCard />
        <IsolationCard />
      </div>
    </section>
  );
}
