// The staff console: sign-in, registrations, statistics and the audit trail over the staff API.
import { ApiError, SignedOut, getJson, programs, request, session, whenUnauthorized } from "./api.js";
import { barChart } from "./chart.js";
import { localMoment, range, utcDay } from "./dates.js";
import { closeErase, openErase } from "./erase.js";

const PAGE_SIZE = 25;
const AUDIT_PAGE = 25;
const SEARCH_PAUSE_MS = 300;

const $ = (id) => document.getElementById(id);
const view = {
  signIn: $("sign-in"),
  signInForm: $("sign-in-form"),
  keyField: $("staff-key"),
  signInMessage: $("sign-in-message"),
  console: $("console"),
  consoleHeading: $("console-heading"),
  who: $("who"),
  signOut: $("sign-out"),
  status: $("status"),
  filters: $("filters"),
  search: $("search"),
  program: $("program"),
  from: $("from"),
  to: $("to"),
  download: $("download"),
  count: $("count"),
  rows: document.querySelector("#registrations tbody"),
  registrationsError: $("registrations-error"),
  previous: $("previous-page"),
  next: $("next-page"),
  statisticsRange: $("statistics-range"),
  statisticsError: $("statistics-error"),
  byProgram: document.querySelector("#by-program .chart"),
  byDay: document.querySelector("#by-day .chart"),
  emails: $("emails"),
  audit: $("audit"),
  auditRows: document.querySelector("#audit-table tbody"),
  auditError: $("audit-error"),
  auditMore: $("audit-more"),
};

const ACTIONS = {
  "registrations.list": "Listed registrations",
  "registrations.stats": "Read statistics",
  "registrations.export": "Exported registrations",
  "registrations.delete": "Erased a registration",
  "audit.read": "Read the audit trail",
  "staff_key.read": "Signed in",
  "staff_key.refused": "Key refused",
};

const state = {
  admin: false,
  labels: new Map(), // program value -> label
  pages: [null], // the cursor of each page visited; the last is the one shown
  auditNext: null,
  generation: 0, // bumped on sign-out so late answers are dropped
};

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function programLabel(value) {
  if (value === null || value === undefined || value === "") return "—";
  return state.labels.get(value) ?? value;
}

function filters() {
  return {
    q: view.search.value.trim(),
    program: view.program.value,
    ...range(view.from.value, view.to.value),
  };
}

function rangeProblem() {
  if (view.from.value && view.to.value && view.from.value > view.to.value) {
    return "From must be on or before To.";
  }
  return null;
}

const latest = new Map(); // the newest call of each loader: an older answer arriving late is dropped

// Run `load`, showing an API error in `where`; a sign-out or a stale answer ends it quietly.
async function guarded(where, load, slot = where) {
  const generation = state.generation;
  const call = (latest.get(slot) ?? 0) + 1;
  latest.set(slot, call);
  const current = () => generation === state.generation && latest.get(slot) === call;
  where.textContent = "";
  try {
    const render = await load();
    if (current()) render();
  } catch (failure) {
    if (failure instanceof SignedOut || !current()) return;
    where.textContent = failure instanceof ApiError ? failure.message : String(failure.message);
  }
}

function registrationRow(registration) {
  const tr = document.createElement("tr");
  const name = cell(registration.name);
  name.id = `name-${registration.id}`;
  const registered = document.createElement("td");
  const time = document.createElement("time");
  time.dateTime = registration.created_at;
  time.textContent = localMoment(registration.created_at);
  registered.append(time);
  tr.append(
    name,
    cell(registration.email),
    cell(registration.phone ?? "—"),
    cell(programLabel(registration.program)),
    registered,
  );
  if (state.admin) {
    const actions = document.createElement("td");
    const erase = document.createElement("button");
    erase.type = "button";
    erase.className = "danger small";
    erase.textContent = "Erase";
    erase.setAttribute("aria-describedby", name.id);
    erase.addEventListener("click", () => openErase(registration, erase, erased));
    actions.append(erase);
    tr.append(actions);
  }
  return tr;
}

function countText(body, shown) {
  const first = (state.pages.length - 1) * PAGE_SIZE + 1;
  const span = shown ? `showing ${first}–${first + shown - 1}` : "";
  if (typeof body.total === "number") {
    const matches = `${body.total} ${body.total === 1 ? "registration matches" : "registrations match"}`;
    return span ? `${matches}, ${span}` : matches;
  }
  if (!shown) return "No registrations match.";
  return `Showing ${first}–${first + shown - 1}${body.next ? " (more on the next page)" : ""}`;
}

function loadRegistrations() {
  const problem = rangeProblem();
  if (problem) {
    view.registrationsError.textContent = problem;
    return Promise.resolve();
  }
  const cursor = state.pages[state.pages.length - 1];
  return guarded(view.registrationsError, async () => {
    const body = await getJson("/api/registrations", { ...filters(), limit: PAGE_SIZE, cursor });
    return () => {
      view.rows.replaceChildren(...body.registrations.map(registrationRow));
      view.count.textContent = countText(body, body.registrations.length);
      view.next.disabled = !body.next;
      view.next.dataset.cursor = body.next ?? "";
      view.previous.disabled = state.pages.length === 1;
    };
  });
}

function loadStatistics() {
  if (rangeProblem()) return Promise.resolve();
  const { since, until } = filters();
  return guarded(view.statisticsError, async () => {
    const stats = await getJson("/api/registrations/stats", { since, until });
    return () => {
      const from = new Date(stats.since);
      const before = new Date(new Date(stats.before).getTime() - 1);
      view.statisticsRange.textContent =
        `${stats.total} registrations from ${localMoment(from)} to ${localMoment(before)}.`;
      view.byProgram.replaceChildren(
        barChart(
          stats.by_program.map((p) => ({ label: programLabel(p.program), value: p.count })),
          "Registrations per program",
        ),
      );
      view.byDay.replaceChildren(
        barChart(
          stats.by_day.map((d) => ({ label: utcDay(d.day), value: d.count })),
          "Registrations per day",
        ),
      );
      const entries = [
        ["Pending", stats.emails.pending],
        ["Sent", stats.emails.sent],
        ["Failed", stats.emails.failed],
        ["Bounced", stats.emails.bounced],
        ["Complained", stats.emails.complained],
      ].filter(([, value]) => typeof value === "number");
      view.emails.replaceChildren(
        ...entries.flatMap(([label, value]) => {
          const dt = document.createElement("dt");
          dt.textContent = label;
          const dd = document.createElement("dd");
          dd.textContent = String(value);
          dd.dataset.email = label.toLowerCase();
          return [dt, dd];
        }),
      );
    };
  });
}

function auditRow(entry) {
  const tr = document.createElement("tr");
  const when = document.createElement("td");
  const time = document.createElement("time");
  time.dateTime = entry.at;
  time.textContent = localMoment(entry.at);
  when.append(time);
  tr.append(
    cell(entry.key_name),
    cell(ACTIONS[entry.action] ?? entry.action),
    when,
    cell(entry.row_count === null ? "—" : String(entry.row_count)),
  );
  return tr;
}

function loadAudit(more = false) {
  if (!state.admin) return Promise.resolve();
  const cursor = more ? state.auditNext : undefined;
  return guarded(view.auditError, async () => {
    const body = await getJson("/api/audit", { limit: AUDIT_PAGE, cursor });
    return () => {
      const rows = body.entries.map(auditRow);
      if (more) view.auditRows.append(...rows);
      else view.auditRows.replaceChildren(...rows);
      state.auditNext = body.next;
      view.auditMore.disabled = !body.next;
    };
  });
}

function erased(registration, text) {
  view.status.textContent = text;
  loadRegistrations().then(() => {
    // The Erase button that opened the dialog is gone: the table's heading takes focus.
    if (!document.activeElement || document.activeElement === document.body) {
      $("registrations-heading").focus();
    }
  });
  loadStatistics();
  loadAudit();
}

// GET /api/staff/key; a service without it yet (404) treats every key as admin, as it does.
async function whoAmI() {
  try {
    return await getJson("/api/staff/key");
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 404) {
      return { name: null, role: "admin", expires_at: null };
    }
    throw failure;
  }
}

function describe(who) {
  const parts = [];
  if (who.name) parts.push(`Signed in as ${who.name}`);
  else parts.push("Signed in");
  if (who.role) parts.push(`(${who.role})`);
  let text = parts.join(" ");
  if (who.expires_at) text += `; key expires ${localMoment(who.expires_at)}`;
  return text;
}

async function fillPrograms() {
  if (state.labels.size) return;
  const list = await programs();
  for (const program of list) {
    state.labels.set(program.value, program.label);
    const option = document.createElement("option");
    option.value = program.value;
    option.textContent = program.label;
    view.program.append(option);
  }
}

async function start(focus) {
  const generation = state.generation;
  let who;
  try {
    who = await whoAmI();
    await fillPrograms();
  } catch (failure) {
    if (failure instanceof SignedOut || generation !== state.generation) return;
    view.signInMessage.textContent = failure.message;
    return;
  }
  if (generation !== state.generation) return;
  state.admin = who.role === "admin";
  document.body.classList.toggle("viewer", !state.admin);
  view.audit.hidden = !state.admin;
  view.who.textContent = describe(who);
  await loadRegistrations();
  if (generation !== state.generation || !session.key) return;
  view.signIn.hidden = true;
  view.console.hidden = false;
  view.who.hidden = false;
  view.signOut.hidden = false;
  if (focus) view.consoleHeading.focus();
  loadStatistics();
  loadAudit();
}

function signOut(message, { alert = true } = {}) {
  state.generation += 1;
  session.forget();
  closeErase();
  // Nothing of an applicant stays on the page once signed out.
  view.rows.replaceChildren();
  view.auditRows.replaceChildren();
  view.byProgram.replaceChildren();
  view.byDay.replaceChildren();
  view.emails.replaceChildren();
  for (const element of [view.count, view.status, view.statisticsRange, view.who]) {
    element.textContent = "";
  }
  state.pages = [null];
  view.console.hidden = true;
  view.who.hidden = true;
  view.signOut.hidden = true;
  view.signIn.hidden = false;
  view.signInMessage.textContent = message;
  view.signInMessage.classList.toggle("error", alert);
  view.keyField.value = "";
  view.keyField.focus();
}

whenUnauthorized((message) => signOut(message));

view.signInForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = view.keyField.value.trim();
  if (!key) {
    view.signInMessage.textContent = "Enter your staff key.";
    view.keyField.focus();
    return;
  }
  view.signInMessage.textContent = "";
  session.keep(key);
  view.keyField.value = "";
  start(true);
});

view.signOut.addEventListener("click", () => signOut("Signed out.", { alert: false }));

function refilter() {
  state.pages = [null];
  loadRegistrations();
}

let searchTimer;
view.search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(refilter, SEARCH_PAUSE_MS);
});
view.program.addEventListener("change", refilter);
for (const field of [view.from, view.to]) {
  field.addEventListener("change", () => {
    refilter();
    loadStatistics();
  });
}
view.filters.addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(searchTimer);
  refilter();
  loadStatistics();
});

view.next.addEventListener("click", () => {
  if (!view.next.dataset.cursor) return;
  state.pages.push(view.next.dataset.cursor);
  loadRegistrations();
});
view.previous.addEventListener("click", () => {
  if (state.pages.length > 1) state.pages.pop();
  loadRegistrations();
});
view.auditMore.addEventListener("click", () => loadAudit(true));

function filename(response) {
  const disposition = response.headers.get("content-disposition") ?? "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  if (match) return match[1];
  const today = new Date();
  const day = [today.getFullYear(), today.getMonth() + 1, today.getDate()]
    .map((n) => String(n).padStart(2, "0"))
    .join("-");
  return `registrations-${day}.xlsx`;
}

view.download.addEventListener("click", async () => {
  const problem = rangeProblem();
  if (problem) {
    view.registrationsError.textContent = problem;
    return;
  }
  view.download.disabled = true;
  view.status.textContent = "Preparing the spreadsheet…";
  await guarded(view.registrationsError, async () => {
    const response = await request("/api/registrations.xlsx", filters());
    const blob = await response.blob();
    const name = filename(response);
    return () => {
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      view.status.textContent = `Downloaded ${name}.`;
    };
  }, "download");
  if (view.registrationsError.textContent) view.status.textContent = "";
  view.download.disabled = false;
});

if (session.key) start(false);
else view.keyField.focus();
