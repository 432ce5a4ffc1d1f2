/** The logged-in user's own page: who they are, a password change, and their API tokens (the secret shown once). */
import { useState, type FormEvent } from "react";
import { useChangePassword, useCreateMyToken, useMe, useMyTokens, useRevokeMyToken, type Token } from "../api/auth";
import { ApiError } from "../api/client";
import { useConfirm } from "../components/Dialog";
import { ShownOnceDialog, type ShownOnce } from "../components/ShownOnce";
import { Field, fieldAria, FormError } from "../components/forms";
import { useToast } from "../components/toasts";
import { TokensTable } from "../components/tokens";
import { Empty, Section, Spinner } from "../components/ui";
import { errorText, fieldMessages } from "../lib/formErrors";

function PasswordForm({ username }: { username: string }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [repeat, setRepeat] = useState("");
  const [mismatch, setMismatch] = useState(false);
  const toast = useToast();
  const change = useChangePassword({
    onSuccess: () => {
      setCurrent("");
      setNext("");
      setRepeat("");
      toast("Password changed; your other browser sessions were ended");
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (next !== repeat) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    change.mutate({ current_password: current, new_password: next });
  };
  const errors = {
    current: fieldMessages(change.error, "current_password"),
    next: fieldMessages(change.error, "new_password"),
    repeat: mismatch ? ["The two new passwords differ"] : [],
  };
  return (
    <form onSubmit={submit} className="card max-w-md space-y-3 p-4" aria-labelledby="password-title">
      {/* For password managers: which account this password belongs to. */}
      <label hidden>
        Username
        <input type="text" name="username" autoComplete="username" value={username} readOnly />
      </label>
      <Field id="current-password" label="Current password" errors={errors.current}>
        <input
          id="current-password"
          type="password"
          className="input"
          required
          autoComplete="current-password"
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
          {...fieldAria("current-password", errors.current)}
        />
      </Field>
      <Field id="new-password" label="New password" hint="At least 12 characters, different from the current one." errors={errors.next}>
        <input
          id="new-password"
          type="password"
          className="input"
          required
          autoComplete="new-password"
          value={next}
          onChange={(e) => {
            setNext(e.target.value);
            setMismatch(false);
          }}
          {...fieldAria("new-password", errors.next, true)}
        />
      </Field>
      <Field id="repeat-password" label="Repeat the new password" errors={errors.repeat}>
        <input
          id="repeat-password"
          type="password"
          className="input"
          required
          autoComplete="new-password"
          value={repeat}
          onChange={(e) => {
            setRepeat(e.target.value);
            setMismatch(false);
          }}
          {...fieldAria("repeat-password", errors.repeat)}
        />
      </Field>
      <FormError error={change.error} shown={["current_password", "new_password"]} title="The password was not changed" />
      <button type="submit" className="btn btn-primary" disabled={change.isPending}>
        {change.isPending ? "Changing…" : "Change password"}
      </button>
    </form>
  );
}

function NewTokenForm({ onCreated }: { onCreated: (secret: string, token: Token) => void }) {
  const [name, setName] = useState("");
  const [days, setDays] = useState("");
  const create = useCreateMyToken({
    onSuccess: (created) => {
      setName("");
      setDays("");
      onCreated(created.secret, created.token);
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ name: name.trim(), expires_days: days === "" ? null : Number(days) });
  };
  const errors = { name: fieldMessages(create.error, "name"), days: fieldMessages(create.error, "expires_days") };
  return (
    <form onSubmit={submit} className="card mb-4 space-y-3 p-4" aria-label="New API token">
      <div className="grid gap-3 sm:grid-cols-[1fr_12rem_auto] sm:items-start">
        <Field id="token-name" label="Name" hint="What it is for, e.g. “CI pipeline”." errors={errors.name}>
          <input
            id="token-name"
            className="input"
            required
            maxLength={100}
            autoComplete="off"
            value={name}
            onChange={(e) => setName(e.target.value)}
            {...fieldAria("token-name", errors.name, true)}
          />
        </Field>
        <Field id="token-days" label="Expires after (days)" hint="Empty: never expires." errors={errors.days}>
          <input
            id="token-days"
            type="number"
            inputMode="numeric"
            min={1}
            max={3650}
            step={1}
            className="input"
            value={days}
            onChange={(e) => setDays(e.target.value)}
            {...fieldAria("token-days", errors.days, true)}
          />
        </Field>
        <button type="submit" className="btn btn-primary sm:mt-6" disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Create token"}
        </button>
      </div>
      <FormError error={create.error} shown={["name", "expires_days"]} title="The token was not created" />
    </form>
  );
}

function TokensSection() {
  const [shown, setShown] = useState<ShownOnce | null>(null);
  const toast = useToast();
  const confirm = useConfirm();
  const tokens = useMyTokens();
  const revoke = useRevokeMyToken({
    onSuccess: (_, token) => toast(`Token ${token.name} revoked`),
    onError: (error) => toast(error instanceof ApiError && error.status === 409 ? error.message : `Not revoked: ${errorText(error)}`, "error"),
  });
  const ask = async (token: Token) => {
    const yes = await confirm({
      title: `Revoke token ${token.name}?`,
      message: "Programs using it get 401 at once. A revoked token cannot be brought back.",
      confirmLabel: "Revoke",
      danger: true,
    });
    if (yes) revoke.mutate(token);
  };
  return (
    <Section id="tokens-title" title="My API tokens">
      <p className="mb-3 max-w-3xl text-sm muted">
        Tokens let scripts call the API as you, with your role: send one as <code className="font-mono">Authorization: Bearer …</code>.
      </p>
      <NewTokenForm
        onCreated={(secret, token) => {
          toast(`Token ${token.name} created`);
          setShown({
            title: `Token ${token.name}`,
            label: "Token",
            secret,
            note: (
              <>
                Store it where your script can read it and send it as <code className="font-mono">Authorization: Bearer &lt;token&gt;</code>. If it is
                lost, revoke it and create another.
              </>
            ),
          });
        }}
      />
      {tokens.isPending ? (
        <Spinner label="Loading your tokens" />
      ) : tokens.isError ? (
        <Empty title="Your tokens could not be loaded">{tokens.error.message}</Empty>
      ) : tokens.data.length === 0 ? (
        <Empty title="No API tokens yet">Create one above when a script needs to call the portal.</Empty>
      ) : (
        <TokensTable
          tokens={tokens.data}
          caption="Your API tokens"
          revoking={revoke.isPending ? revoke.variables?.id : null}
          onRevoke={(token) => void ask(token)}
        />
      )}
      <ShownOnceDialog shown={shown} onClose={() => setShown(null)} />
    </Section>
  );
}

export default function ProfilePage() {
  const me = useMe();
  return (
    <section aria-labelledby="profile-title">
      <h1 id="profile-title" className="mb-4 text-2xl font-semibold">
        Profile
      </h1>
      {me.isPending ? (
        <Spinner label="Loading your profile" />
      ) : !me.data ? (
        <Empty title="You are not logged in" />
      ) : (
        <>
          <dl className="card grid max-w-md grid-cols-[auto_1fr] gap-x-6 gap-y-2 p-4 text-sm">
            <dt className="muted">Username</dt>
            <dd className="font-mono font-medium">{me.data.username}</dd>
            <dt className="muted">Role</dt>
            <dd className="font-medium">{me.data.role}</dd>
          </dl>
          <Section id="password-title" title="Change password">
            <PasswordForm username={me.data.username} />
          </Section>
          <TokensSection />
        </>
      )}
    </section>
  );
}
