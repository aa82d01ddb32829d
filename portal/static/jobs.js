// My jobs: the caller's jobs from every UWS job list, with live phases, cancel, delete and results.
import { base, vo, post, el, tags, firstText } from "./portal.js";

const LISTS = ["tap/async", "soda/async", "soda/bulk", "anomaly/async"];
const ACTIVE = new Set(["PENDING", "QUEUED", "EXECUTING"]);
const body = document.querySelector("#jobs tbody");
const status = document.getElementById("status");
const kindFilter = document.getElementById("kind-filter");
const phaseFilter = document.getElementById("phase-filter");
let timer = null;
// Documents of jobs in a final phase, which no longer change: read once, not at every live update.
const finished = new Map();
const FINAL = new Set(["COMPLETED", "ERROR", "ABORTED", "ARCHIVED"]);

async function xml(url) {
  const response = await vo(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return new DOMParser().parseFromString(await response.text(), "application/xml");
}

// One job's document, read into the values the table shows.
async function readJob(kind, url) {
  if (finished.has(url)) return finished.get(url);
  const doc = await xml(url);
  const results = tags(doc, "result").map((r) => ({
    id: r.getAttribute("id"), href: r.getAttributeNS("http://www.w3.org/1999/xlink", "href") }));
  const job = { kind, url, id: firstText(doc, "jobId"), runId: firstText(doc, "runId"), phase: firstText(doc, "phase"),
    created: firstText(doc, "creationTime"), start: firstText(doc, "startTime"), end: firstText(doc, "endTime"),
    destruction: firstText(doc, "destruction"), results, error: tags(doc, "errorSummary").length > 0,
    progress: tags(doc, "progress")[0] ?? null };
  if (FINAL.has(job.phase)) finished.set(url, job);
  return job;
}

async function listJobs(kind) {
  const doc = await xml(`${base}/${kind}`);
  return tags(doc, "jobref").map((ref) => ref.getAttributeNS("http://www.w3.org/1999/xlink", "href")
    || `${base}/${kind}/${ref.getAttribute("id")}`);
}

const when = (t) => (t ? t.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "");

function runTime(job) {
  if (!job.start) return "";
  const end = job.end ? Date.parse(job.end) : Date.now();
  return `${((end - Date.parse(job.start)) / 1000).toFixed(1)} s`;
}

// "done of total" while a job runs and reports it (Skygate's jobInfo progress element).
function progress(job) {
  if (!job.progress || !ACTIVE.has(job.phase)) return "";
  const [done, total] = ["done", "total"].map((a) => Number(job.progress.getAttribute(a)));
  return el("progress", { value: String(done), max: String(total), title: `${done} of ${total}`, "aria-label": "progress" });
}

function row(job) {
  const actions = el("td", {});
  if (ACTIVE.has(job.phase)) {
    const cancel = el("button", { type: "button", class: "cancel" }, "Cancel");
    cancel.addEventListener("click", async () => { await post(`${job.url}/phase`, { PHASE: "ABORT" }); refresh(); });
    actions.append(cancel, " ");
  }
  const remove = el("button", { type: "button", class: "delete" }, "Delete");
  remove.addEventListener("click", async () => { await post(job.url, { ACTION: "DELETE" }); finished.delete(job.url); refresh(); });
  actions.append(remove);
  const links = el("td", {}, ...job.results.flatMap((r) => [el("a", { href: r.href }, r.id), " "]));
  if (job.error) links.append(el("a", { href: `${job.url}/error`, class: "error" }, "error"));
  return el("tr", { "data-job": job.id },
    el("td", {}, el("a", { href: job.url }, job.runId || job.id)), el("td", {}, job.kind),
    el("td", { class: `phase phase-${job.phase}` }, job.phase, progress(job)), el("td", {}, when(job.created)),
    el("td", { class: "num" }, runTime(job)), el("td", {}, when(job.destruction)), links, actions);
}

async function refresh() {
  clearTimeout(timer);
  const kinds = kindFilter.value ? [kindFilter.value] : LISTS;
  const jobs = [];
  const problems = [];
  await Promise.all(kinds.map(async (kind) => {
    try {
      const urls = await listJobs(kind);
      jobs.push(...await Promise.all(urls.map((url) => readJob(kind, url))));
    } catch (error) { problems.push(error.message); }
  }));
  jobs.sort((a, b) => (b.created ?? "").localeCompare(a.created ?? ""));
  const shown = jobs.filter((j) => !phaseFilter.value || j.phase === phaseFilter.value);
  body.replaceChildren(...shown.map(row));
  status.textContent = `${shown.length} of ${jobs.length} jobs${problems.length ? ` (could not read: ${problems.join(", ")})` : ""}`;
  if (jobs.some((j) => ACTIVE.has(j.phase))) timer = setTimeout(refresh, 1500);  // live phases
}

kindFilter.addEventListener("change", refresh);
phaseFilter.addEventListener("change", refresh);
document.getElementById("refresh").addEventListener("click", () => { finished.clear(); refresh(); });
refresh();
