/**
 * Users (admin; the server enforces it): filters in the URL, role changes, disable and enable, password resets and
 * new users (generated passwords shown once); below them the locked logins and every user's API tokens.
 */
import { useState, type FormEvent } from "react";
import { useMe } from "../../api/auth";
import { ApiError, type Schemas } from "../../api/client";
import { NO_USER_FILTERS, useCreateUser, useResetPassword, useUpdateUser, useUsers, type User } from "../../api/users";
import { Dialog, useConfirm } from "../../components/Dialog";
import { LoginLocksSection } from "../../components/admin/LoginLocksSection";
import { TokensSection } from "../../components/admin/TokensSection";
import { SearchBox } from "../../components/SearchBox";
import { ShownOnceDialog, type ShownOnce } from "../../components/ShownOnce";
import { Field, fieldAria, FormError } from "../../components/forms";
import { useToast } from "../../components/toasts";
import { Badge, Empty, Spinner, TableHead, Time } from "../../components/ui";
import { ROLES } from "../../lib/auth";
import { errorText, fieldMessages } from "../../lib/formErrors";
import { useUrlState } from "../../lib/urlState";

/** Why a change was refused, for a toast: the server's message says it (last admin, yourself). */
function refusal(error: unknown): string {
  if (error instanceof ApiError && error.status === 409) return error.message;
  return `Not changed: ${errorText(error)}`;
}

function NewUserDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (created: Schemas["UserCreated"]) => void }) {
  return (
    <Dialog open={open} onClose={onClose} title="New user">
      <NewUserForm onCancel={onClose} onCreated={onCreated} />
    </Dialog>
  );
}

function NewUserForm({ onCancel, onCreated }: { onCancel: () => void; onCreated: (created: Schemas["UserCreated"]) => void }) {
  const [username, setUsername] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [role, setRole] = useState<string>("requester");
  const [password, setPassword] = useState("");
  const create = useCreateUser({ onSuccess: onCreated });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ username: username.trim(), display_name: displayName.trim(), role, password: password || null });
  };
  const errors = {
    username: fieldMessages(create.error, "username"),
    display_name: fieldMessages(create.error, "display_name"),
    role: fieldMessages(create.error, "role"),
    password: fieldMessages(create.error, "password"),
  };
  return (
    <form onSubmit={submit} className="space-y-3">
      <Field id="new-username" label="Username" hint="2-64 characters: lowercase letters, digits, . _ -" errors={errors.username}>
        <input
          id="new-username"
          className="input font-mono"
          required
          autoComplete="off"
          spellCheck={false}
          autoCapitalize="none"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          data-autofocus
          {...fieldAria("new-username", errors.username, true)}
        />
      </Field>
      <Field id="new-display-name" label="Display name" errors={errors.display_name}>
        <input
          id="new-display-name"
          className="input"
          autoComplete="off"
          value={displayName}
          onChange={(e) => setDisplayName(e.target.value)}
          {...fieldAria("new-display-name", errors.display_name)}
        />
      </Field>
      <Field id="new-role" label="Role" hint="Each role includes the ones before it." errors={errors.role}>
        <select id="new-role" className="input" value={role} onChange={(e) => setRole(e.target.value)} {...fieldAria("new-role", errors.role, true)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </Field>
      <Field
        id="new-password"
        label="Password (optional)"
        hint="Leave it empty to generate one, shown once after the user is created. At least 12 characters."
        errors={errors.password}
      >
        <input
          id="new-password"
          type="password"
          className="input"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          {...fieldAria("new-password", errors.password, true)}
        />
      </Field>
      <FormError error={create.error} shown={["username", "display_name", "role", "password"]} title="The user was not created" />
      <div className="flex justify-end gap-2 pt-2">
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="btn btn-primary" disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Create user"}
        </button>
      </div>
    </form>
  );
}

function UserRow({
  user,
  self,
  busy,
  onRole,
  onToggle,
  onReset,
}: {
  user: User;
  self: boolean;
  busy: boolean;
  onRole: (role: string) => void;
  onToggle: () => void;
  onReset: () => void;
}) {
  const why = self ? "You cannot change your own account here" : undefined;
  return (
    <tr className="border-t border-stone-200 dark:border-stone-800" data-user-id={user.id}>
      <td className="px-3 py-2 font-mono">
        {user.username}
        {self && <span className="ml-1 font-sans text-xs muted">(you)</span>}
      </td>
      <td className="max-w-48 truncate px-3 py-2" title={user.display_name}>
        {user.display_name || <span className="muted">—</span>}
      </td>
      <td className="px-3 py-2">
        <label htmlFor={`role-${user.id}`} className="sr-only">
          Role of {user.username}
        </label>
        <select
          id={`role-${user.id}`}
          className="input w-32"
          value={user.role}
          disabled={busy || self}
          title={why}
          onChange={(e) => onRole(e.target.value)}
        >
          {(ROLES as readonly string[]).includes(user.role) ? null : <option value={user.role}>{user.role}</option>}
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </td>
      <td className="px-3 py-2">{user.disabled ? <Badge tone="red">Disabled</Badge> : <Badge tone="green">Enabled</Badge>}</td>
      <td className="px-3 py-2 whitespace-nowrap">
        <Time iso={user.created_at} />
      </td>
      <td className="px-3 py-2 whitespace-nowrap">{user.last_login_at ? <Time iso={user.last_login_at} /> : <span className="muted">never</span>}</td>
      <td className="px-3 py-2">
        <div className="flex justify-end gap-2">
          <button
            type="button"
            className="btn"
            disabled={busy || self}
            title={why}
            onClick={onToggle}
            aria-label={`${user.disabled ? "Enable" : "Disable"} ${user.username}`}
          >
            {user.disabled ? "Enable" : "Disable"}
          </button>
          <button
            type="button"
            className="btn whitespace-nowrap"
            disabled={busy || self}
            title={self ? "Change your own password on your profile" : undefined}
            onClick={onReset}
            aria-label={`Reset password of ${user.username}`}
          >
            Reset password
          </button>
        </div>
      </td>
    </tr>
  );
}

function UsersSection({ onShow }: { onShow: (shown: ShownOnce) => void }) {
  const [params, update] = useUrlState(NO_USER_FILTERS);
  const [creating, setCreating] = useState(false);
  const me = useMe();
  const toast = useToast();
  const confirm = useConfirm();

  const users = useUsers(params);

  const change = useUpdateUser({
    onSuccess: (user, { patch }) => {
      if (patch.role) toast(`${user.username} is now ${user.role}`);
      else if (patch.disabled === true) toast(`${user.username} is disabled: their sessions ended and their tokens are refused`);
      else if (patch.disabled === false) toast(`${user.username} is enabled`);
    },
    onError: (error) => toast(refusal(error), "error"),
  });

  const reset = useResetPassword({
    onSuccess: (done, user) => {
      toast(`The password of ${user.username} was reset; their sessions ended`);
      if (done.generated_password) {
        onShow({
          title: `New password for ${user.username}`,
          label: "Password",
          secret: done.generated_password,
          note: "Give it to the user over a safe channel. Their API tokens keep working.",
        });
      }
    },
    onError: (error) => toast(refusal(error), "error"),
  });

  const toggle = async (user: User) => {
    const disabling = !user.disabled;
    const yes = await confirm(
      disabling
        ? {
            title: `Disable ${user.username}?`,
            message: "Their browser sessions end at once and their API tokens are refused until the user is enabled again.",
            confirmLabel: "Disable",
            danger: true,
          }
        : {
            title: `Enable ${user.username}?`,
            message: "They can log in again, and their API tokens that are not revoked or expired work again.",
            confirmLabel: "Enable",
          },
    );
    if (yes) change.mutate({ user, patch: { disabled: disabling } });
  };

  const resetPassword = async (user: User) => {
    const yes = await confirm({
      title: `Reset the password of ${user.username}?`,
      message: "A new password is generated and shown to you once. Their browser sessions end; their API tokens keep working.",
      confirmLabel: "Reset password",
      danger: true,
    });
    if (yes) reset.mutate(user);
  };

  const changeRole = async (user: User, role: string) => {
    const yes = await confirm({
      title: `Make ${user.username} ${role}?`,
      message: `The role changes from ${user.role} to ${role} at once, for their sessions and API tokens too.`,
      confirmLabel: `Make ${role}`,
      danger: user.role === "admin",
    });
    if (yes) change.mutate({ user, patch: { role } });
  };

  const busyId = change.isPending ? change.variables?.user.id : reset.isPending ? reset.variables?.id : undefined;
  const filtered = Boolean(params.q || params.role || params.disabled);

  return (
    <>
      <div className="mb-4 flex flex-wrap items-end justify-between gap-2">
        <h1 id="users-title" className="text-2xl font-semibold">
          Users
        </h1>
        <div className="flex items-center gap-3">
          {users.isFetching && !users.isPending && <Spinner label="Updating" />}
          <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
            New user
          </button>
        </div>
      </div>
      <div className="mb-4 grid gap-2 sm:grid-cols-[1fr_auto_auto]">
        <div>
          <SearchBox
            id="users-search"
            label="Search users"
            placeholder="Search by username or display name"
            value={params.q}
            onCommit={(q) => update({ q }, { replace: true })}
          />
        </div>
        <div>
          <label htmlFor="users-role" className="sr-only">
            Role
          </label>
          <select id="users-role" className="input" value={params.role} onChange={(e) => update({ role: e.target.value })}>
            <option value="">All roles</option>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor="users-status" className="sr-only">
            Status
          </label>
          <select id="users-status" className="input" value={params.disabled} onChange={(e) => update({ disabled: e.target.value })}>
            <option value="">Enabled and disabled</option>
            <option value="false">Enabled</option>
            <option value="true">Disabled</option>
          </select>
        </div>
      </div>
      {users.isPending ? (
        <Spinner label="Loading users" />
      ) : users.isError ? (
        <Empty title="The users could not be loaded">
          {users.error instanceof ApiError && users.error.status === 403 ? "Only admins may manage users." : users.error.message}
        </Empty>
      ) : users.data.length === 0 ? (
        <Empty title={filtered ? "No user matches these filters" : "No users yet"}>
          {filtered && (
            <button type="button" className="link" onClick={() => update(NO_USER_FILTERS)}>
              Clear the filters
            </button>
          )}
        </Empty>
      ) : (
        <div className="card relative overflow-x-auto">
          <table className="cards w-full min-w-[54rem] text-left text-sm">
            <caption className="sr-only">Users, {users.data.length} shown</caption>
            <TableHead columns={["Username", "Display name", "Role", "Status", "Created", "Last login", null]} />
            <tbody>
              {users.data.map((user) => (
                <UserRow
                  key={user.id}
                  user={user}
                  self={user.username === me.data?.username}
                  busy={busyId === user.id}
                  onRole={(role) => void changeRole(user, role)}
                  onToggle={() => void toggle(user)}
                  onReset={() => void resetPassword(user)}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <NewUserDialog
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={(created) => {
          setCreating(false);
          toast(`User ${created.user.username} created`);
          if (created.generated_password) {
            onShow({
              title: `Password for ${created.user.username}`,
              label: "Password",
              secret: created.generated_password,
              note: "Give it to the user over a safe channel; they can change it on their profile.",
            });
          }
        }}
      />
    </>
  );
}

export default function UsersPage() {
  const [shown, setShown] = useState<ShownOnce | null>(null);
  return (
    <section aria-labelledby="users-title">
      <UsersSection onShow={setShown} />
      <LoginLocksSection />
      <TokensSection />
      <ShownOnceDialog shown={shown} onClose={() => setShown(null)} />
    </section>
  );
}
