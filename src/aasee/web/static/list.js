// Analyses list: keeps each row's status, verdict and score live by polling the same query
// through the API, and says when new analyses arrived. Only textContent is written.
"use strict";

(function () {
  const FINAL = new Set(["reported", "failed"]);
  const table = document.getElementById("tasks");
  if (!table) return;
  const url = table.dataset.pollUrl;
  const shownTotal = Number(table.dataset.total);
  const notice = document.getElementById("new-tasks");

  function classSafe(value) {
    return String(value).replace(/[^a-z_]/g, "");
  }

  function badge(kind, value) {
    const span = document.createElement("span");
    span.className = "badge " + kind + "-" + classSafe(value);
    span.textContent = value;
    return span;
  }

  function update(row, task) {
    row.dataset.status = task.status;
    const status = row.querySelector("td.status");
    status.querySelector(".badge").replaceWith(badge("status", task.status));
    status.querySelector(".substatus").textContent = task.substatus || "";
    const progress = status.querySelector("progress");
    if (typeof task.progress === "number" && !FINAL.has(task.status)) {
      progress.value = task.progress;
      progress.hidden = false;
    } else {
      progress.hidden = true;
    }
    const verdict = row.querySelector("td.verdict");
    verdict.replaceChildren();
    if (task.verdict) verdict.appendChild(badge("verdict", task.verdict));
    row.querySelector("td.score").textContent =
      typeof task.score === "number" ? task.score.toFixed(1) : "";
  }

  function pending() {
    return Array.from(table.querySelectorAll("tr[data-task-id]")).some(function (row) {
      return !FINAL.has(row.dataset.status);
    });
  }

  async function poll() {
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.status === 401) {
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
        return;
      }
      if (response.ok) {
        const page = await response.json();
        const items = Array.isArray(page.items) ? page.items : [];
        const total = typeof page.total === "number" ? page.total : items.length;
        items.forEach(function (task) {
          const row = table.querySelector('tr[data-task-id="' + CSS.escape(task.id) + '"]');
          if (row) update(row, task);
        });
        if (notice && total > shownTotal) notice.hidden = false;
      }
    } catch (error) {
      // A dropped connection or a server restart: keep polling.
    }
    const busy = pending() && !document.hidden;
    window.setTimeout(poll, busy ? 2000 : 10000);
  }

  window.setTimeout(poll, 1500);
})();
