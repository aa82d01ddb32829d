// The footprint page: the footprints of /moc (MOC 2.0) beside the embedded viewer, each with its files.
import { base, vo, el } from "./portal.js";

const box = document.getElementById("footprints");
const response = await vo(`${base}/moc?format=json`);
if (!response.ok) {
  box.replaceChildren(el("p", { class: "error" }, `The footprints could not be read: ${response.status} ${response.statusText}`));
  throw new Error(`/moc answered ${response.status}`);
}
const footprints = await response.json();
const head = el("tr", {}, ...["footprint", "area (deg²)", "sky fraction", "MOC order", "files"].map(
  (name) => el("th", { scope: "col" }, name)));
const rows = footprints.map((f) => {
  const files = el("td", {});
  for (const format of ["fits", "json", "ascii"]) {
    files.append(el("a", { href: `${f.url}?format=${format}` }, format.toUpperCase()), " ");
  }
  return el("tr", {}, el("td", {}, el("code", {}, f.name), f.description ? ` — ${f.description}` : ""),
    el("td", { class: "num" }, f.area_deg2.toFixed(3)), el("td", { class: "num" }, f.sky_fraction.toExponential(3)),
    el("td", { class: "num" }, String(f.order)), files);
});
box.replaceChildren(footprints.length
  ? el("table", { class: "grid", id: "footprint-table" }, el("thead", {}, head), el("tbody", {}, ...rows))
  : el("p", {}, "No footprints yet: `skygate moc build` makes them."));
box.setAttribute("aria-busy", "false");

// The requests shown name a footprint that exists: the widest one, as the viewer draws it.
const widest = footprints.reduce((a, b) => (b.sky_fraction > (a?.sky_fraction ?? -1) ? b : a), null);
if (widest) {
  for (const id of ["as-curl", "as-pyvo"]) {
    const pre = document.getElementById(id);
    pre.textContent = pre.textContent.replaceAll(`${base}/moc/des_dr1.main`, widest.url);
  }
}
