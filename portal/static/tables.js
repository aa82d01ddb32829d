// The schema browser's search: show the tables whose text (names, descriptions, units, UCDs) matches.
const input = document.getElementById("table-filter");
const count = document.getElementById("table-filter-count");
const tables = Array.from(document.querySelectorAll("details.table"));

function filter() {
  const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const table of tables) {
    const text = table.textContent.toLowerCase();
    const match = words.every((w) => text.includes(w));
    table.hidden = !match;
    table.open = match && words.length > 0;
    if (match) shown += 1;
  }
  count.textContent = words.length ? `${shown} of ${tables.length} tables match` : "";
}

input.addEventListener("input", filter);
if (location.hash) {
  const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target) target.open = true;
}
