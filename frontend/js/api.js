// The HTTP API from the page: URLs under the page's own directory (works behind a path prefix),
// the page's ?token= sent as a bearer, and POSTs answered as {ok, status, body} (never a throw).

/** The page's own directory: API paths are relative to it. */
export function apiBase(loc = window.location) {
  return loc.pathname.replace(/[^/]*$/, "");
}

/** The page's ?token= (AUTH_TOKEN mode), or null. */
export function pageToken(loc = window.location) {
  return new URLSearchParams(loc.search).get("token");
}

export function authHeaders(loc = window.location) {
  const token = pageToken(loc);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** GET an API path (relative, e.g. "v1/stats"). */
export function apiGet(path, loc = window.location) {
  return fetch(`${apiBase(loc)}${path}`, { headers: authHeaders(loc), credentials: "same-origin" });
}

/** POST to a URL; the JSON answer (or the status line) as {ok, status, body}; a network failure
 * is {ok: false, status: 0, body: {error: "<what> could not be sent (...)"}}. */
export async function apiPost(url, body, { headers = {}, what = "the request", loc = window.location } = {}) {
  try {
    const response = await fetch(url, { method: "POST", body, headers: { ...headers, ...authHeaders(loc) }, credentials: "same-origin" });
    let answer;
    try {
      answer = await response.json();
    } catch {
      answer = { error: `${response.status} ${response.statusText}` };
    }
    return { ok: response.ok, status: response.status, body: answer };
  } catch (error) {
    return { ok: false, status: 0, body: { error: `${what} could not be sent (${error.message || error})` } };
  }
}
