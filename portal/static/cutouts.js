// Bulk cutouts: the form becomes one multipart POST to /soda/bulk (PHASE=RUN); the job is followed
// through its UWS document, then its PNG results are shown as a gallery with each object's FITS files.
import { base, vo, el, tags, firstText } from "./portal.js";

const XLINK = "http://www.w3.org/1999/xlink";
const bulkUrl = `${base}/soda/bulk`;
const status = document.getElementById("status");
const gallery = document.getElementById("gallery");
const form = document.getElementById("cutout-form");

// Lines of "ra, dec" / "ra dec" or object ids as a CSV with a header row; a CSV with a header passes as is.
function positionsCsv(text) {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  if (!lines.length || /[a-z]/i.test(lines[0])) return lines.join("\n");
  const cells = lines.map((l) => l.split(/[\s,;]+/));
  if (cells.every((c) => c.length === 1)) return ["COADD_OBJECT_ID", ...lines].join("\n");
  return ["RA,DEC", ...cells.map((c) => `${c[0]},${c[1]}`)].join("\n");
}

function request() {
  const data = new FormData();
  const options = { XSIZE: document.getElementById("xsize").value,
    COLORS_FITS: Array.from(form.querySelectorAll("input[name=band]:checked")).map((b) => b.value).join("") };
  options.MAKE_FITS = options.COLORS_FITS ? "true" : "false";
  if (!options.COLORS_FITS) delete options.COLORS_FITS;
  if (document.getElementById("make-rgb").checked) options.RGB_LUPTON_COLORS = document.getElementById("rgb-colors").value;
  options.MAKE_RGB_LUPTON = document.getElementById("make-rgb").checked ? "true" : "false";
  for (const [k, v] of Object.entries(options)) data.append(k, v);
  data.append("PHASE", "RUN");
  const file = document.getElementById("positions-file").files[0];
  data.append("positions", file ?? new Blob([positionsCsv(document.getElementById("positions").value)],
    { type: "text/csv" }), file?.name ?? "positions.csv");
  const flags = Object.entries(options).map(([k, v]) => `-F ${k}=${v}`).join(" ");
  document.getElementById("as-curl").textContent = `curl -F positions=@positions.csv ${flags} -F PHASE=RUN ${bulkUrl}`;
  document.getElementById("as-pyvo").textContent = `import requests, pyvo\nanswer = requests.post("${bulkUrl}", data=${JSON.stringify({ ...options, PHASE: "RUN" })},\n    files={"positions": open("positions.csv", "rb")})\njob = pyvo.dal.AsyncTAPJob(answer.url)\njob.wait()`;
  return data;
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

// One figure per object: its colour image(s), then links to its FITS files.
function showGallery(doc) {
  const objects = new Map();
  const results = tags(doc, "result").map((r) => ({ id: r.getAttribute("id"), href: r.getAttributeNS(XLINK, "href") }));
  for (const r of results) {
    const parts = r.id.split("__");
    if (parts.length < 3) continue;
    const key = `${parts[0]} ${parts[1]}`;
    if (!objects.has(key)) objects.set(key, { png: [], fits: [] });
    objects.get(key)[r.id.endsWith(".png") ? "png" : "fits"].push(r);
  }
  const figures = [...objects].map(([name, o]) => el("figure", { class: "cutout" },
    ...o.png.map((p) => el("img", { src: p.href, alt: `colour image of ${name}`, width: "160", height: "160" })),
    el("figcaption", {}, name, el("br"), ...o.fits.flatMap((f) => [el("a", { href: f.href }, f.id.split("__").pop()), " "]))));
  const archive = results.find((r) => r.id === "result");
  gallery.replaceChildren(
    el("p", {}, `${objects.size} objects. `, ...(archive ? [el("a", { href: archive.href, id: "archive" }, "Download everything (tar.gz)")] : [])),
    el("div", { class: "gallery" }, ...figures));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  gallery.replaceChildren();
  status.className = "";
  status.textContent = "submitting…";
  const response = await vo(bulkUrl, { method: "POST", body: request() });
  if (!response.ok) {
    status.className = "error";
    status.textContent = `the service refused the job: ${(await response.text()).trim()}`;
    return;
  }
  const doc = await follow(response.url);
  if (doc) showGallery(doc);
});
