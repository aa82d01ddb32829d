// A VOTable's rows (from readVotable) as a sortable, paged HTML table: units and UCDs in the
// header, NULLs shown as NULL, numeric columns sorted as numbers, NULLs last.
import { el } from "./portal.js";

const PAGE = 50;
const NUMERIC = new Set(["short", "int", "long", "float", "double", "unsignedByte", "boolean"]);

function header(field, index, state, redraw) {
  const th = el("th", { scope: "col", "aria-sort": state.column === index ? state.order : "none",
    title: field.description || "" }, field.name);
  if (field.unit) th.append(el("span", { class: "meta unit" }, `[${field.unit}]`));
  if (field.ucd) th.append(el("span", { class: "meta ucd" }, field.ucd));
  th.tabIndex = 0;
  const sort = () => {
    state.order = state.column === index && state.order === "ascending" ? "descending" : "ascending";
    state.column = index;
    state.page = 0;
    redraw();
  };
  th.addEventListener("click", sort);
  th.addEventListener("keydown", (e) => { if (e.key === "Enter") sort(); });
  return th;
}

function compare(field, order) {
  const sign = order === "ascending" ? 1 : -1;
  const numeric = NUMERIC.has(field.datatype);
  return (a, b) => {
    if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;  // NULLs last either way
    const [x, y] = numeric ? [Number(a), Number(b)] : [a, b];
    return x < y ? -sign : x > y ? sign : 0;
  };
}

// A URL cell (access_url, DataLink) as a link; anything else as text.
const link = (cell) => (/^https?:\/\//.test(cell) ? el("a", { href: cell }, cell) : cell);

export function showTable(table, results) {
  const state = { column: null, order: "none", page: 0 };
  const redraw = () => {
    let rows = table.rows;
    if (state.column !== null) {
      const cmp = compare(table.fields[state.column], state.order);
      rows = [...rows].sort((r, s) => cmp(r[state.column], s[state.column]));
    }
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    const shown = rows.slice(state.page * PAGE, (state.page + 1) * PAGE);
    const thead = el("thead", {}, el("tr", {}, ...table.fields.map((f, i) => header(f, i, state, redraw))));
    const tbody = el("tbody", {}, ...shown.map((row) => el("tr", {}, ...row.map((cell, i) =>
      cell === null ? el("td", { class: "null" }, "NULL")
        : el("td", NUMERIC.has(table.fields[i].datatype) ? { class: "num" } : {}, link(cell))))));
    const prev = el("button", { type: "button", id: "prev-page" }, "‹ previous");
    const next = el("button", { type: "button", id: "next-page" }, "next ›");
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
    prev.addEventListener("click", () => { state.page -= 1; redraw(); });
    next.addEventListener("click", () => { state.page += 1; redraw(); });
    results.replaceChildren(
      el("table", { class: "grid", id: "result-table" }, thead, tbody),
      el("div", { class: "controls" }, prev, `page ${state.page + 1} of ${pages}`, next));
  };
  redraw();
}

