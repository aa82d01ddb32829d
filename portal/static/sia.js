// The SIA page's search: the form's own GET to /sia/query, its VOTable shown as a table in the page.
import { vo, el, readVotable } from "./portal.js";
import { showTable } from "./table.js";

const form = document.getElementById("sia-form");
const status = document.getElementById("status");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const params = Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== ""));
  const url = `${form.action}?${new URLSearchParams(params)}`;
  document.getElementById("as-curl").textContent = `curl '${url}'`;
  const [ra, dec, radius] = (params.POS ?? "").split(/\s+/).slice(1).map(Number);
  document.getElementById("as-pyvo").textContent = `import pyvo\nservice = pyvo.dal.SIA2Service("${form.action}")\nresult = service.search(pos=(${ra}, ${dec}, ${radius})${params.MAXREC ? `, maxrec=${params.MAXREC}` : ""})\nprint(result.to_table())`;
  status.className = "";
  status.textContent = "searching…";
  const table = readVotable(await (await vo(url)).text());
  if (table.error || !table.parsed) {
    status.className = "error";
    status.textContent = table.error ?? "the service did not answer with a VOTable";
    return;
  }
  status.replaceChildren(`${table.rows.length} images. `, el("a", { href: url }, "The VOTable"));
  showTable(table, document.getElementById("results"));
});
