// Anomaly scoring: the form becomes one POST to /anomaly/async (PHASE=RUN); the job is followed through
// its UWS document, then the histogram (scores.png), the top list (top) and the other results are shown.
import { base, vo, post, asCurl, pyString, el, tags, firstText, readVotable } from "./portal.js";
import { showTable } from "./table.js";

const XLINK = "http://www.w3.org/1999/xlink";
const asyncUrl = `${base}/anomaly/async`;
const form = document.getElementById("anomaly-form");
const status = document.getElementById("status");
const box = document.getElementById("anomaly-results");

function params() {
  const data = Object.fromEntries(new FormData(form));
  data.STANDARDIZE = data.STANDARDIZE ? "yes" : "no";
  if (!data.RUNID) delete data.RUNID;
  return { ...data, PHASE: "RUN" };
}

function showCode(p) {
  document.getElementById("as-curl").textContent = asCurl(asyncUrl, p);
  const { QUERY, PHASE, ...rest } = p;
  document.getElementById("as-pyvo").textContent = `import requests, pyvo\nanswer = requests.post("${asyncUrl}", data={"QUERY": ${pyString(QUERY)},\n    **${JSON.stringify(rest)}, "PHASE": "RUN"})\njob = pyvo.dal.AsyncTAPJob(answer.url)\njob.wait()\ntop = job.result_uris  # scores.png, top, result, model, summary.json`;
}

async function follow(jobUrl) {
  for (;;) {
    const doc = new DOMParser().parseFromString(await (await vo(jobUrl)).text(), "application/xml");
    const phase = firstText(doc, "phase");
    status.className = "";
    status.replaceChildren("Job ", el("a", { href: jobUrl, id: "job-link" }, jobUrl.split("/").pop()), `: ${phase}`);
    if (phase === "COMPLETED") return doc;
    if (phase === "ERROR" || phase === "ABORTED") {
      status.className = "error";
      status.append(" — ", firstText(doc, "message") ?? "");
      return null;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function showResults(doc) {
  const results = Object.fromEntries(tags(doc, "result").map((r) => [r.getAttribute("id"), r.getAttributeNS(XLINK, "href")]));
  const links = ["result", "top", "model", "summary.json"].filter((id) => results[id])
    .flatMap((id) => [el("a", { href: results[id] }, id), " "]);
  box.replaceChildren(
    el("h2", {}, "Scores"),
    el("img", { src: results["scores.png"], alt: "histogram of the anomaly scores", id: "histogram" }),
    el("p", {}, "Results: ", ...links));
  const summary = await (await vo(results["summary.json"])).json();
  box.append(el("p", {}, `${summary.rows.scored} rows scored, ${summary.rows.skipped} skipped (${summary.rows.null_policy}).`));
  const top = readVotable(await (await vo(results.top)).text());
  if (top.error) return;
  const ids = top.rows.map((row) => row[0]).filter((id) => id !== null);
  box.append(el("h2", {}, `The ${top.rows.length} highest scores`),
    el("p", {}, el("a", { href: `${base}/cutouts?positions=${encodeURIComponent(ids.join("\n"))}`, id: "cut-top" },
      "Make cutouts of these objects")));
  showTable(top, document.getElementById("results"));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  box.replaceChildren();
  document.getElementById("results").replaceChildren();
  const p = params();
  showCode(p);
  status.textContent = "submitting…";
  const response = await post(asyncUrl, p);
  if (!response.ok) {
    status.className = "error";
    status.textContent = `the service refused the job: ${(await response.text()).trim()}`;
    return;
  }
  const doc = await follow(response.url);
  if (doc) await showResults(doc);
});
showCode(params());
