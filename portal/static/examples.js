// Render /tap/examples (DALI examples, XHTML+RDFa) with a "Try it" link that opens the editor.
import { base, vo, el } from "./portal.js";

const box = document.getElementById("examples");
const response = await vo(`${base}/tap/examples`);
if (!response.ok) {
  box.replaceChildren(el("p", { class: "error" }, `The examples could not be read: ${response.status} ${response.statusText}`));
  throw new Error(`/tap/examples answered ${response.status}`);
}
const doc = new DOMParser().parseFromString(await response.text(), "text/html");
box.replaceChildren();
for (const example of doc.querySelectorAll("[typeof=example]")) {
  const name = example.querySelector("[property=name]")?.textContent ?? example.id;
  const query = example.querySelector("[property=query]")?.textContent ?? "";
  const description = example.querySelector("p")?.textContent ?? "";
  const upload = example.querySelector("[property=generic-parameter]") !== null;
  const card = el("section", { class: "example", id: example.id },
    el("h2", {}, name), el("p", {}, description), el("pre", {}, query));
  if (upload) {
    card.append(el("p", {}, "Needs a table upload (UPLOAD): run it with pyvo or TOPCAT."));
  } else {
    card.append(el("a", { href: `${base}/query?query=${encodeURIComponent(query)}`, class: "try" }, "Try it"));
  }
  box.append(card);
}
box.setAttribute("aria-busy", "false");
