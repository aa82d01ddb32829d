// Shared by every page: the base URL, requests that carry the caller's token, "as curl" text, identity.
export const base = document.body.dataset.base;
const TOKEN = "skygate-token";

export function authHeaders() {
  const token = sessionStorage.getItem(TOKEN);
  return token ? { Authorization: `Bearer ${token}` } : {};
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
  const token = sessionStorage.getItem(TOKEN) ? ' -H "Authorization: Bearer $TOKEN"' : "";
  const args = Object.entries(params).map(([k, v]) => `--data-urlencode ${shellQuote(`${k}=${v}`)}`);
  return `curl${token} ${args.join(" ")} ${url}`;
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
  let who;
  try {
    const response = await vo(`${base}/whoami`);
    who = response.ok ? await response.json() : { refused: true };
  } catch { return; }
  box.replaceChildren();
  if (who.refused) {
    box.append(el("span", { class: "error" }, "token refused "));
  } else if (who.authenticated) {
    box.append(`signed in as ${who.user} `);
  } else if (who.mode && who.mode !== "none") {
    box.append("anonymous ");
  }
  if (sessionStorage.getItem(TOKEN)) {
    const out = el("button", { type: "button", id: "logout" }, "Log out");
    out.addEventListener("click", () => { sessionStorage.removeItem(TOKEN); location.reload(); });
    box.append(out);
  } else if (who.mode === "tokens" || who.mode === "oidc") {  // an API token, or an OIDC access token
    const input = el("input", { type: "password", id: "token", "aria-label": "access token", placeholder: "token" });
    // the token is kept for this tab only (sessionStorage) and sent as a Bearer header by vo()
    const form = el("form", {}, input, el("button", { type: "submit" }, "Log in"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN, input.value.trim());
      location.reload();
    });
    box.append(form);
  }
}

showIdentity();
