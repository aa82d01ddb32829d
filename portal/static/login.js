// The login page: check the token with /whoami, keep it (portal.js), go back where the person was going.
import { base, el, logIn } from "./portal.js";

const status = document.getElementById("status");

// Only a path of this site: ``next`` comes from the URL, and a full URL there would send people elsewhere.
function next() {
  const path = new URLSearchParams(location.search).get("next") || "/";
  return path.startsWith("/") && !path.startsWith("//") && !path.includes("\\") ? path : "/";
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  status.replaceChildren("checking the token…");
  status.className = "";
  const who = await logIn(document.getElementById("login-token").value.trim()).catch(() => null);
  if (!who) {
    status.replaceChildren(el("span", { class: "error" }, "This token was refused: check it, or ask for a new one."));
    return;
  }
  status.replaceChildren(`signed in as ${who.user}`);
  location.assign(base + next());
});
