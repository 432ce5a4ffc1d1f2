/**
 * Usernames whose logins are throttled now (admin): locked after repeated failures or waiting out a back-off,
 * for known users and unknown names alike, with Unlock (the server audits it).
 */
import { useLoginLocks, useUnlockLogin, type LoginLock } from "../../api/users";
import { errorText } from "../../lib/formErrors";
import { useConfirm } from "../Dialog";
import { useToast } from "../toasts";
import { Badge, Empty, Section, Spinner, TableHead, Time } from "../ui";

function LockRow({ lock, busy, onUnlock }: { lock: LoginLock; busy: boolean; onUnlock: () => void }) {
  return (
    <tr className="border-t border-stone-200 dark:border-stone-800" data-login-lock={lock.username}>
      <td className="px-3 py-2 font-mono">
        {lock.username}
        {!lock.known && <span className="ml-1 font-sans text-xs muted">(no such user)</span>}
      </td>
      <td className="px-3 py-2">
        {lock.locked ? <Badge tone="red">Locked</Badge> : <Badge tone="amber">Backing off</Badge>}
      </td>
      <td className="px-3 py-2 whitespace-nowrap">{lock.until ? <Time iso={lock.until} /> : <span className="muted">—</span>}</td>
      <td className="px-3 py-2 tabular-nums">{lock.failures}</td>
      <td className="px-3 py-2 whitespace-nowrap">
        <Time iso={lock.first_failure_at} />
      </td>
      <td className="px-3 py-2 font-mono">{lock.last_client || <span className="muted">—</span>}</td>
      <td className="px-3 py-2">
        <div className="flex justify-end">
          <button type="button" className="btn" disabled={busy} onClick={onUnlock} aria-label={`Unlock ${lock.username}`}>
            Unlock
          </button>
        </div>
      </td>
    </tr>
  );
}

export function LoginLocksSection() {
  const toast = useToast();
  const confirm = useConfirm();
  const locks = useLoginLocks();
  const unlock = useUnlockLogin({
    onSuccess: (_, lock) => toast(`${lock.username} may log in again`),
    onError: (error) => toast(`Not unlocked: ${errorText(error)}`, "error"),
  });
  const ask = async (lock: LoginLock) => {
    const yes = await confirm({
      title: `Unlock ${lock.username}?`,
      message: `Its ${lock.failures} failed logins are forgotten and it may log in at once. Unlock only when you know who failed: ${lock.last_client || "an unknown address"} tried last.`,
      confirmLabel: "Unlock",
    });
    if (yes) unlock.mutate(lock);
  };
  return (
    <Section id="login-locks-title" title="Locked logins" actions={locks.isFetching && !locks.isPending ? <Spinner label="Updating" /> : undefined}>
      {locks.isPending ? (
        <Spinner label="Loading locked logins" />
      ) : locks.isError ? (
        <Empty title="The locked logins could not be loaded">{locks.error.message}</Empty>
      ) : locks.data.length === 0 ? (
        <Empty title="No login is locked or backing off">
          A username is slowed down after a few failed logins and locked for a while after many.
        </Empty>
      ) : (
        <div className="card relative overflow-x-auto">
          <table className="cards w-full min-w-[44rem] text-left text-sm">
            <caption className="sr-only">Usernames whose logins are throttled now, {locks.data.length} in all</caption>
            <TableHead columns={["Username", "State", "Until", "Failures", "Since", "Last address", null]} />
            <tbody>
              {locks.data.map((lock) => (
                <LockRow
                  key={lock.username}
                  lock={lock}
                  busy={unlock.isPending && unlock.variables?.username === lock.username}
                  onUnlock={() => void ask(lock)}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
