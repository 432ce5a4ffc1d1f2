/** Username and password; on success, back to where the user was going. */
import { useState, type FormEvent } from "react";
import { Navigate, useNavigate, useSearchParams } from "react-router";
import { useLogin, useMe } from "../api/auth";
import { ApiError } from "../api/client";
import { safeNext } from "../lib/redirect";

export default function LoginPage() {
  const [search] = useSearchParams();
  const next = safeNext(search.get("next"));
  const me = useMe();
  const login = useLogin();
  const navigate = useNavigate();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");

  if (me.data) return <Navigate to={next} replace />;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    login.mutate({ username, password }, { onSuccess: () => navigate(next, { replace: true }) });
  };
  const error = login.error instanceof ApiError ? login.error : null;

  return (
    <main id="main" className="grid min-h-screen place-items-center px-4">
      <form onSubmit={submit} className="card w-full max-w-sm space-y-4 p-6" aria-labelledby="login-title">
        <div className="flex items-center gap-2">
          <span className="grid h-8 w-8 place-items-center rounded-md bg-accent-600 text-white" aria-hidden>
            ▶
          </span>
          <h1 id="login-title" className="text-xl font-semibold">
            Log in to the portal
          </h1>
        </div>
        <div>
          <label htmlFor="username" className="mb-1 block text-sm font-medium">
            Username
          </label>
          <input id="username" className="input" autoComplete="username" autoFocus required value={username} onChange={(e) => setUsername(e.target.value)} />
        </div>
        <div>
          <label htmlFor="password" className="mb-1 block text-sm font-medium">
            Password
          </label>
          <input id="password" type="password" className="input" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </div>
        {error && (
          <p role="alert" className="text-sm text-red-700 dark:text-red-400">
            {error.status === 401 ? "Wrong username or password." : error.message}
          </p>
        )}
        <button type="submit" className="btn btn-primary w-full" disabled={login.isPending}>
          {login.isPending ? "Logging in…" : "Log in"}
        </button>
        <p className="text-xs muted">
          First start? The password of <code>admin</code> is printed by <code>make run</code> and kept in
          <code> data/initial-admin-password</code>.
        </p>
      </form>
    </main>
  );
}
