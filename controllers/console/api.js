// The staff JSON API on this origin, with the tab's staff key as a Bearer token.
const STORAGE_KEY = "schoolapp.staffKey";

export const session = {
  get key() {
    return sessionStorage.getItem(STORAGE_KEY);
  },
  keep(key) {
    sessionStorage.setItem(STORAGE_KEY, key);
  },
  forget() {
    sessionStorage.removeItem(STORAGE_KEY);
  },
};

// An answer other than 2xx (and 401, which signs out): its status and the API's message.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Thrown after a 401 has signed the officer out; callers only stop.
export class SignedOut extends Error {}

let onUnauthorized = () => {};

export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

export function withParams(path, params) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  return url;
}

async function message(response) {
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") return body.error;
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  return `The service answered ${response.status}`;
}

export async function request(path, params = {}, init = {}) {
  const key = session.key;
  if (!key) throw new SignedOut("Signed out");
  const response = await fetch(withParams(path, params), {
    ...init,
    headers: { Authorization: `Bearer ${key}` },
    credentials: "omit",
    cache: "no-store",
  });
  if (response.status === 401) {
    const text = await message(response);
    // Only if the key that failed is still the tab's: a late answer must not sign out a new one.
    if (session.key === key) onUnauthorized(text);
    throw new SignedOut(text);
  }
  if (!response.ok) throw new ApiError(response.status, await message(response));
  return response;
}

export async function getJson(path, params = {}) {
  return (await request(path, params)).json();
}

// GET /api/programs needs no key.
export async function programs() {
  const response = await fetch("/api/programs", { credentials: "omit" });
  if (!response.ok) throw new ApiError(response.status, await message(response));
  return (await response.json()).programs;
}
