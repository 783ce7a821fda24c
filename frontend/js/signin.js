// Sign-in for AUTH_MODE=keys: when /v1/auth/me says nobody is signed in, a screen asks for a user
// name and password or an API key (POST /v1/auth/login sets the HttpOnly session cookie, which the
// socket and every request then carry). Signed in: the user and tenant in the top bar, and Sign out.
// In the other modes /v1/auth/me answers otherwise and nothing here shows.

/** The page's directory (the API lives beside the page, also under a proxy's path prefix). */
function base(loc = window.location) {
  return loc.pathname.replace(/[^/]*$/, "");
}

async function post(path, body) {
  return fetch(`${base()}${path}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Resolves true when the app may start (signed in, or no sign-in needed); false shows the screen. */
export async function ensureSignedIn() {
  let response;
  try {
    response = await fetch(`${base()}v1/auth/me`, { credentials: "same-origin" });
  } catch {
    return true; // the server is down: the app's reconnect logic reports it
  }
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    if (body.auth_mode === "keys") showUser(body);
    return true;
  }
  if (body.code !== "not_signed_in") return true;
  showSignIn();
  return false;
}

function showUser(me) {
  const badge = document.getElementById("signed-in");
  document.getElementById("signed-in-name").textContent = `${me.name || me.user_id} · ${me.tenant}`;
  badge.hidden = false;
  document.getElementById("sign-out").addEventListener("click", async () => {
    await post("v1/auth/logout", {});
    window.location.reload();
  });
}

function showSignIn() {
  const screen = document.getElementById("signin");
  const form = document.getElementById("signin-form");
  const error = document.getElementById("signin-error");
  screen.hidden = false;
  document.getElementById("app").inert = true;
  document.getElementById("signin-user").focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = form.elements.key.value.trim();
    const payload = key
      ? { key }
      : { username: form.elements.username.value, password: form.elements.password.value };
    error.textContent = "";
    const response = await post("v1/auth/login", payload);
    if (response.ok) {
      window.location.reload();
      return;
    }
    const body = await response.json().catch(() => ({}));
    error.textContent = body.error || `Sign-in failed (${response.status})`;
  });
}
