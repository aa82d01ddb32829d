// The query page: Check (sync, MAXREC=0), Quick (sync, bounded MAXREC, a sortable paged table),
// Submit job (async, RUNID), Download (the form itself: a plain POST to /tap/sync).
import { base, post, asCurl, authHeaders, pyString, el, readVotable } from "./portal.js";
import { showTable } from "./table.js";

const textarea = document.getElementById("query");
const status = document.getElementById("status");
const results = document.getElementById("results");
const tapUrl = `${base}/tap`;
let editor = null;
if (document.body.dataset.editor === "yes") {
  const { createEditor } = await import("./build/editor.js");
  editor = createEditor(textarea, JSON.parse(document.getElementById("adql-schema").textContent));
}
const queryText = () => (editor ? editor.getText() : textarea.value);

function say(text, cls = "") {
  status.className = cls;
  status.textContent = text;
}

function showCode(action, params) {
  const url = action === "async" ? `${tapUrl}/async` : `${tapUrl}/sync`;
  document.getElementById("as-curl").textContent = asCurl(url, params);
  const q = pyString(params.QUERY);
  let py = `import pyvo\nservice = pyvo.dal.TAPService("${tapUrl}")\n`;
  if (action === "async") {
    py += `job = service.submit_job(${q}, maxrec=${params.MAXREC}${params.RUNID ? `, runid=${pyString(params.RUNID)}` : ""})\njob.run()`;
  } else {
    py += `result = service.run_sync(${q}, maxrec=${params.MAXREC})\nprint(result.to_table())`;
  }
  document.getElementById("as-pyvo").textContent = py;
}

function syncParams(maxrec) {
  return { LANG: "ADQL", REQUEST: "doQuery", QUERY: queryText(), MAXREC: String(maxrec), RESPONSEFORMAT: "votable" };
}

async function runSync(maxrec) {
  const params = syncParams(maxrec);
  showCode("sync", params);
  if (editor) editor.clearError();
  const response = await post(`${tapUrl}/sync`, params);
  const table = readVotable(await response.text());
  if (!table.parsed) table.error = `the service answered ${response.status} ${response.statusText}`;
  if (table.error) showError(table.error);
  return table;
}

function showError(message) {
  say(message, "error");
  const where = /line (\d+), column (\d+)/.exec(message);
  if (!where) return;
  const [line, column] = [Number(where[1]), Number(where[2])];
  if (editor) {
    editor.markError(line, column, message);
  } else {
    const lines = textarea.value.split("\n");
    const offset = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + column - 1;
    textarea.focus();
    textarea.setSelectionRange(offset, offset + 1);
  }
}

document.getElementById("check").addEventListener("click", async () => {
  say("checking…");
  const table = await runSync(0);
  if (table.error) return;
  results.replaceChildren();
  say(`OK: ${table.fields.length} output columns`, "ok");
  results.append(el("table", { class: "grid", id: "columns" },
    el("thead", {}, el("tr", {}, ...["column", "datatype", "unit", "UCD", "description"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...table.fields.map((f) => el("tr", {},
      ...[f.name, f.datatype, f.unit, f.ucd, f.description].map((v) => el("td", {}, v ?? "")))))));
});

document.getElementById("quick").addEventListener("click", async () => {
  const maxrec = Number(document.getElementById("quick-maxrec").value) || 100;
  say("running…");
  const started = performance.now();
  const table = await runSync(maxrec);
  if (table.error) return;
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  say(`${table.rows.length} rows in ${seconds} s${table.overflow ? ` — more rows exist (MAXREC=${maxrec}); submit a job for all of them` : ""}`, "ok");
  showTable(table, results);
});

document.getElementById("submit-job").addEventListener("click", async () => {
  const form = new FormData(document.getElementById("query-form"));
  const params = { LANG: "ADQL", QUERY: queryText(), RESPONSEFORMAT: form.get("RESPONSEFORMAT"),
    MAXREC: form.get("MAXREC"), PHASE: "RUN" };
  if (form.get("RUNID")) params.RUNID = form.get("RUNID");
  showCode("async", params);
  say("submitting…");
  const response = await post(`${tapUrl}/async`, params);
  if (!response.ok) { say(`the service refused the job: ${response.status} ${await response.text()}`, "error"); return; }
  const jobUrl = response.url;
  status.className = "ok";
  status.replaceChildren("Job submitted: ", el("a", { href: jobUrl, id: "job-link" }, jobUrl.split("/").pop()),
    " — follow it in ", el("a", { href: `${base}/jobs` }, "My jobs"), ".");
});

document.getElementById("query-form").addEventListener("submit", async (event) => {
  textarea.value = queryText();  // the download is the form's own POST to /tap/sync ...
  if (!authHeaders().Authorization) return;
  // ... except that a form cannot send the Bearer token: then fetch the same POST and save its body.
  event.preventDefault();
  const params = Object.fromEntries(new FormData(event.target));
  showCode("sync", params);
  say("downloading…");
  const response = await post(`${tapUrl}/sync`, params);
  if (!response.ok) { showError(readVotable(await response.text()).error ?? `${response.status}`); return; }
  const link = el("a", { href: URL.createObjectURL(await response.blob()), download: `result.${params.RESPONSEFORMAT.split("/")[0]}` });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  say("downloaded", "ok");
});

showCode("sync", syncParams(100));
