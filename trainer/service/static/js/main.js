// The dashboard: the job list and the submit form at `/`, one job at `/jobs/{id}` (with the list below).
// The service sends this same page for both; it reads which one from the address.

import { api, LOGIN_NEEDED } from "./api.js";
import { el } from "./dom.js";
import { JobList } from "./joblist.js";
import { JobPage } from "./jobpage.js";
import { showLogin } from "./login.js";
import { SubmitForm } from "./submit.js";

const main = document.querySelector("main");
const parts = [];

window.addEventListener(LOGIN_NEEDED, () => {
  if (document.querySelector("#login")) return;
  for (const part of parts) part.stop?.();
  document.querySelector("#logout").hidden = true;
  showLogin(main);
});

document.querySelector("#logout").addEventListener("click", async () => {
  await api("POST", "/logout").catch(() => {});
  location.assign("/");
});

async function show(...started) {
  parts.push(...started);
  try {
    await Promise.all(started.map((part) => part.start()));
  } catch (error) {
    if (!document.querySelector("#login")) console.error(error);
  }
}

const job = location.pathname.match(/^\/jobs\/([^/]+)\/?$/);
if (job) {
  const page = el("div", { id: "job-page" });
  const list = el("div", { id: "job-list" });
  main.append(page, list);
  const id = decodeURIComponent(job[1]);
  document.title = `${id} · training service`;
  show(new JobPage(page, id), new JobList(list, { current: id }));
} else {
  const list = el("div", { id: "job-list" });
  const form = el("div", { id: "submit-form" });
  main.append(form, list);
  show(new SubmitForm(form), new JobList(list));
}
