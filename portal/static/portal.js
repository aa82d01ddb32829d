// Shared by every page: the base URL, requests that carry the caller's token, "as curl" text, identity.
export const base = document.body.dataset.base;

// The token lives in one cookie until the browser closes: the pages send it as a Bearer header
// (the only credential the services take for a POST), and page loads carry it as the cookie, which
// the server reads on GET and HEAD only (skygate/identity.py). SameSite=Strict: other sites' pages
// never send it.
const COOKIE = "skygate_token";
const cookiePath = new URL(`${base}/`, location.href).pathname;

export function token() {
  const entry = document.cookie.split("; ").find((c) => c.startsWith(`${COOKIE}=`));
  return entry ? decodeURIComponent(entry.slice(COOKIE.length + 1)) : "";
}

function cookie(value, extra) {
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `${COOKIE}=${encodeURIComponent(value)}; Path=${cookiePath}; SameSite=Strict${secure}${extra}`;
}

// Keep ``value`` as the token if /whoami accepts it; the identity it answers, or null when refused.
export async function logIn(value) {
  const response = await fetch(`${base}/whoami`, { headers: { ...SCRIPT, Authorization: `Bearer ${value}` } });
  if (!response.ok) return null;
  cookie(value, "");
  return response.json();
}

export function logOut() {
  cookie("", "; Max-Age=0");
}

// Marks the pages' own requests: a refusal then carries no Basic challenge, whose password dialog
// the browser would open over the page (skygate/identity.py).
const SCRIPT = { "X-Requested-With": "skygate-portal" };

export function authHeaders() {
  const value = token();
  return value ? { ...SCRIPT, Authorization: `Bearer ${value}` } : { ...SCRIPT };
}

// A request to a public endpoint, with the token (if any) as a Bearer header.
export function vo(url, options = {}) {
  return fetch(url, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
}

export function post(url, params) {
  return vo(url, { method: "POST", body: new URLSearchParams(params) });
}

const shellQuote = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;

// The curl command line of a POST of ``params`` to ``url``.
export function asCurl(url, params) {
  const bearer = token() ? ' -H "Authorization: Bearer $TOKEN"' : "";
  const args = Object.entries(params).map(([k, v]) => `--data-urlencode ${shellQuote(`${k}=${v}`)}`);
  return `curl${bearer} ${args.join(" ")} ${url}`;
}

export function pyString(s) {
  return String(s).includes("\n") ? `"""${s.replace(/"""/g, '\\"""')}"""` : JSON.stringify(s);
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

// Elements of a namespaced XML document by local name.
export const tags = (node, name) => Array.from(node.getElementsByTagNameNS("*", name));
export const firstText = (node, name) => tags(node, name)[0]?.textContent ?? null;

// The VOTable's fields, rows (null for an empty cell), and QUERY_STATUS INFOs.
export function readVotable(text) {
  const doc = new DOMParser().parseFromString(text, "application/xml");
  const infos = tags(doc, "INFO").filter((i) => i.getAttribute("name") === "QUERY_STATUS");
  const error = infos.find((i) => i.getAttribute("value") === "ERROR");
  const fields = tags(doc, "FIELD").map((f) => ({
    name: f.getAttribute("name"), datatype: f.getAttribute("datatype"), unit: f.getAttribute("unit"),
    ucd: f.getAttribute("ucd"), description: firstText(f, "DESCRIPTION"),
  }));
  const rows = tags(doc, "TR").map((tr) => tags(tr, "TD").map((td) => (td.textContent === "" ? null : td.textContent)));
  const overflow = infos.some((i) => i.getAttribute("value") === "OVERFLOW");
  const parsed = doc.getElementsByTagName("parsererror").length === 0;
  return { error: error ? error.textContent.trim() || error.getAttribute("value") : null, fields, rows, overflow, parsed };
}

async function showIdentity() {
  const box = document.getElementById("identity");
  if (!box) return;
  const login = document.body.dataset.login;  // "needed": a closed site's home page; "here": the login page
  if (!token() && login) {
    if (login === "needed") box.replaceChildren(el("a", { href: `${base}/login`, id: "login-nav" }, "Log in"));
    return;
  }
  let who;
  try {
    const response = await vo(`${base}/whoami`);
    who = response.ok ? await response.json() : { refused: true };
  } catch { return; }
  box.replaceChildren();
  if (who.refused) {  // revoked or expired: forget it, so that page loads stop sending it
    logOut();
    box.append(el("span", { class: "error" }, "token refused "), el("a", { href: `${base}/login` }, "Log in"));
    return;
  } else if (who.authenticated) {
    box.append("signed in as ", el("strong", { id: "user" }, who.user), who.admin ? " (admin) " : " ");
  } else if (who.mode && who.mode !== "none") {
    box.append("anonymous ");
  }
  if (token()) {
    const out = el("button", { type: "button", id: "logout" }, "Log out");
    out.addEventListener("click", () => {
      logOut();
      // A site without anonymous access refuses this page now: go to the login page instead.
      if (who.anonymous === "none") location.assign(`${base}/login`); else location.reload();
    });
    box.append(out);
  } else if (who.mode === "tokens" || who.mode === "oidc") {  // an API token, or an OIDC access token
    const input = el("input", { type: "password", id: "token", "aria-label": "access token", placeholder: "token" });
    const form = el("form", {}, input, el("button", { type: "submit" }, "Log in"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (await logIn(input.value.trim())) location.reload();
      else box.prepend(el("span", { class: "error" }, "token refused "));
    });
    box.append(form);
  }
}

showIdentity();
