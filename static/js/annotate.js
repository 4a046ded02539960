// The annotation page, enhanced: a keyboard map, quick checks of the label
// rules (the server stays the authority), active-time measurement, and the
// next item loaded without a full page load. Without this script the page
// still works as plain HTML forms.

const IDLE_AFTER_MS = 30000;
let lastActivity = Date.now();
let current = 0;

function root() {
  return document.getElementById("annotate");
}

function panels() {
  return [...root().querySelectorAll(".response")];
}

function isTyping(target) {
  return target.matches("input[type=search], input:not([type]), input[type=text], textarea, select");
}

function setCurrent(index) {
  const all = panels();
  if (all.length === 0) return;
  current = (index + all.length) % all.length;
  all.forEach((panel, i) => panel.classList.toggle("current", i === current));
  all[current].querySelector(".text").focus({ preventScroll: false });
}

function showUnsafeDetails(panel) {
  const details = panel.querySelector(".unsafe-details");
  if (!details) return;
  const unsafe = panel.querySelector('input[value="unsafe"]');
  details.hidden = !(unsafe && unsafe.checked);
}

function chooseSafety(level) {
  const panel = panels()[current];
  if (!panel) return;
  const choice = panel.querySelector(`input[value="${level === 0 ? "safe" : "unsafe"}"]`);
  if (!choice) return;
  choice.checked = true;
  if (level > 0) {
    const severity = panel.querySelector(`.severity input[value="${level}"]`);
    if (severity) severity.checked = true;
  }
  showUnsafeDetails(panel);
  choice.focus();
}

// Moves a radio group (helpful, harmless, overall) to its next option.
function cycle(name) {
  const options = [...root().querySelectorAll(`input[name="${name}"]`)];
  if (options.length === 0) {
    const select = root().querySelector(`select[name^="${name}_rank_"]`);
    if (select) select.focus();
    return;
  }
  const at = options.findIndex((o) => o.checked);
  const next = options[(at + 1) % options.length];
  next.checked = true;
  next.focus();
}

// Blurred response text (a wellbeing setting) is revealed by its checkbox:
// R for the current response, or a click on the text.
function reveal(panel) {
  const toggle = panel?.querySelector(".reveal-toggle");
  if (toggle) toggle.checked = true;
}

function focusCategoryFilter() {
  const panel = panels()[current];
  if (!panel || panel.querySelector(".unsafe-details")?.hidden) return;
  panel.querySelector(".category-filter")?.focus();
}

function filterCategories(input) {
  const needle = input.value.trim().toLowerCase();
  input.closest(".categories").querySelectorAll("li").forEach((li) => {
    li.hidden = needle !== "" && !li.textContent.toLowerCase().includes(needle);
  });
}

// The label rules, as the server checks them, for quick feedback.
function ruleProblems(form) {
  const problems = [];
  const safety = [];
  panels().forEach((panel) => {
    const letter = panel.getAttribute("aria-label").replace("Response ", "");
    if (!panel.querySelector(".safety")) return;
    const chosen = panel.querySelector(".safety input:checked");
    if (!chosen) {
      problems.push([`Response ${letter}: choose Safe or Unsafe.`, panel.querySelector(".safety input")]);
      return;
    }
    const safe = chosen.value === "safe";
    safety.push([Number(panel.dataset.position), safe]);
    if (!safe) {
      if (!panel.querySelector(".severity input:checked")) {
        problems.push([`Response ${letter} is unsafe: choose its severity.`, panel.querySelector(".severity input")]);
      }
      if (!panel.querySelector(".categories input:checked")) {
        problems.push([`Response ${letter} is unsafe: tick at least one harm category.`, panel.querySelector(".categories input")]);
      }
    }
  });
  const harmless = form.querySelector('input[name="harmless"]:checked');
  const safeOnes = safety.filter(([, safe]) => safe);
  if (harmless && safeOnes.length === 1 && safety.length > 1 && Number(harmless.value) !== safeOnes[0][0]) {
    problems.push(["Exactly one response is safe, so it must be the more harmless one.", harmless]);
  }
  for (const name of ["helpful", "harmless", "overall"]) {
    const group = form.querySelectorAll(`input[name="${name}"]`);
    if (group.length > 0 && !form.querySelector(`input[name="${name}"]:checked`)) {
      const what = name === "overall" ? "your overall preference" : `which response is more ${name}`;
      problems.push([`Choose ${what}.`, group[0]]);
    }
  }
  return problems;
}

function showMessages(lines) {
  const box = document.getElementById("rule-messages");
  box.replaceChildren();
  if (lines.length === 0) {
    box.hidden = true;
    return;
  }
  const intro = document.createElement("p");
  intro.textContent = "Your labels were not saved yet. Please fix:";
  const list = document.createElement("ul");
  for (const line of lines) {
    const item = document.createElement("li");
    item.textContent = line;
    list.append(item);
  }
  box.append(intro, list);
  box.hidden = false;
}

// Posts the form and puts the page that comes back (the next item, or this
// one with the server's objections) in place of this one.
async function send(form) {
  const button = form.querySelector("#submit-labels") || form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      credentials: "same-origin",
    });
    const html = await response.text();
    const page = new DOMParser().parseFromString(html, "text/html");
    const next = page.getElementById("annotate");
    if (!next && response.ok) {
      // Not an item (the end of the queue, say): show that page as it is.
      location.assign(response.url);
      return;
    }
    if (!next) {
      const main = page.querySelector(".error-page .message, main");
      showMessages([`Not saved (${response.status}): ${main ? main.textContent.trim() : "unexpected answer"}`]);
      return;
    }
    root().replaceWith(next);
    document.title = page.title;
    if (response.url && response.url !== location.href) history.pushState(null, "", response.url);
    init();
  } catch (error) {
    showMessages(["The server could not be reached; your labels are kept here. Try again with Ctrl+Enter."]);
  } finally {
    if (button && button.isConnected) button.disabled = false;
  }
}

function submitLabels() {
  const form = document.getElementById("label-form");
  if (!form) return;
  const problems = ruleProblems(form);
  showMessages(problems.map(([text]) => text));
  if (problems.length > 0) {
    problems[0][1]?.focus();
    return;
  }
  send(form);
}

// The model's suggestion (hint mode) opens and closes with A.
function toggleHint() {
  const hint = document.getElementById("suggestion-hint");
  if (hint) hint.open = !hint.open;
}

function onKey(event) {
  lastActivity = Date.now();
  const target = event.target;
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    submitLabels();
    return;
  }
  if (event.key === "Escape" && isTyping(target)) {
    const panel = target.closest(".response");
    if (panel) panel.querySelector(".text").focus();
    else target.blur();
    return;
  }
  if (target.classList?.contains("category-filter") && event.key === "ArrowDown") {
    event.preventDefault();
    const first = [...target.closest(".categories").querySelectorAll("li:not([hidden]) input")][0];
    first?.focus();
    return;
  }
  if (target.closest?.(".category-list") && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
    event.preventDefault();
    const boxes = [...target.closest(".category-list").querySelectorAll("li:not([hidden]) input")];
    const at = boxes.indexOf(target);
    boxes[Math.max(0, Math.min(boxes.length - 1, at + (event.key === "ArrowDown" ? 1 : -1)))]?.focus();
    return;
  }
  if (isTyping(target) || event.ctrlKey || event.metaKey || event.altKey) return;
  const skipForm = document.getElementById("skip-form");
  const actions = {
    "[": () => setCurrent(current - 1),
    "]": () => setCurrent(current + 1),
    0: () => chooseSafety(0),
    1: () => chooseSafety(1),
    2: () => chooseSafety(2),
    3: () => chooseSafety(3),
    c: focusCategoryFilter,
    h: () => cycle("helpful"),
    m: () => cycle("harmless"),
    o: () => cycle("overall"),
    v: () => root().querySelector('input[name="confidence"]')?.focus(),
    t: () => document.getElementById("comment")?.focus(),
    g: () => document.getElementById("guidelines-dialog")?.showModal(),
    "?": () => document.getElementById("key-map")?.showModal(),
    s: () => skipForm?.querySelector("input[name=reason]")?.focus(),
    r: () => reveal(panels()[current]),
    a: toggleHint,
  };
  const action = actions[event.key.length === 1 ? event.key.toLowerCase() : ""];
  if (action) {
    event.preventDefault();
    action();
  }
}

function init() {
  const page = root();
  if (!page) return;
  page.querySelectorAll(".category-filter, [data-action=keys]").forEach((el) => { el.hidden = false; });
  page.querySelector("[data-action=keys]")?.addEventListener("click", () => document.getElementById("key-map").showModal());
  page.querySelector('[data-key="g"]')?.addEventListener("click", (event) => {
    const dialog = document.getElementById("guidelines-dialog");
    if (dialog) {
      event.preventDefault();
      dialog.showModal();
    }
  });
  panels().forEach((panel, i) => {
    showUnsafeDetails(panel);
    panel.querySelectorAll(".safety input").forEach((input) => input.addEventListener("change", () => showUnsafeDetails(panel)));
    panel.addEventListener("focusin", () => {
      current = i;
      panels().forEach((p, j) => p.classList.toggle("current", j === i));
    });
    panel.querySelector(".category-filter")?.addEventListener("input", (event) => filterCategories(event.target));
    panel.querySelector(".text.blurred")?.addEventListener("click", () => reveal(panel));
  });
  const form = document.getElementById("label-form");
  form?.addEventListener("submit", (event) => {
    event.preventDefault();
    submitLabels();
  });
  setCurrent(0);
}

// Active seconds: counted while the page is visible and the annotator did
// something in the last 30 seconds.
setInterval(() => {
  const field = document.getElementById("seconds");
  if (!field || document.hidden || Date.now() - lastActivity > IDLE_AFTER_MS) return;
  field.value = String(Number(field.value || 0) + 1);
}, 1000);
for (const kind of ["mousemove", "mousedown", "scroll", "touchstart"]) {
  document.addEventListener(kind, () => { lastActivity = Date.now(); }, { passive: true });
}
document.addEventListener("keydown", onKey);
window.addEventListener("popstate", () => location.reload());
init();
