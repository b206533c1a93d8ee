// Workers page: keeps the table live by polling GET /api/v1/workers (state, task, free slots,
// load), adding workers that appear and marking those that went silent. Only textContent and
// DOM nodes are written, never markup.
"use strict";

(function () {
  const table = document.getElementById("workers");
  if (!table) return;
  const url = table.dataset.pollUrl;
  const body = table.tBodies[0];
  const summary = document.getElementById("workers-summary");

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function muted(text) {
    const span = document.createElement("span");
    span.className = "muted";
    span.textContent = text;
    return span;
  }

  function when(value) {
    // "2026-12-07T20:10:09.123+00:00" -> "2026-12-07 20:10:09", as the server renders it.
    const parsed = new Date(value);
    if (Number.isNaN(parsed.getTime())) return "";
    return parsed.toISOString().slice(0, 19).replace("T", " ");
  }

  function row(worker) {
    const tr = document.createElement("tr");
    tr.dataset.worker = worker.name;
    tr.className = worker.alive ? "alive" : "stale";
    tr.appendChild(cell(worker.name, "name"));
    tr.appendChild(cell(worker.kind));
    tr.appendChild(cell(worker.host));
    tr.appendChild(cell(String(worker.pid)));

    const state = cell("", "state");
    const badge = document.createElement("span");
    badge.className = "badge worker-" + (worker.alive ? "alive" : "stale");
    badge.textContent = worker.alive ? "alive" : "stale";
    const seen = document.createElement("span");
    seen.className = "substatus";
    seen.textContent = " seen " + Math.round(worker.seconds_since_seen) + " s ago";
    state.append(badge, seen);
    tr.appendChild(state);

    const task = cell("", "task");
    if (worker.task_id) {
      const link = document.createElement("a");
      link.href = "/analyses/" + encodeURIComponent(worker.task_id);
      link.textContent = worker.task_number ? String(worker.task_number) : worker.task_id.slice(0, 8);
      task.appendChild(link);
    }
    tr.appendChild(task);
    tr.appendChild(cell((worker.images || []).join(", "), "images"));
    tr.appendChild(cell((worker.arches || []).join(", "), "arches"));
    const kinds = cell((worker.sandboxes || []).join(", "), "sandboxes");
    kinds.title = Object.entries(worker.unavailable || {})
      .map(function (entry) {
        return "not " + entry[0] + ": " + entry[1];
      })
      .join("\n");
    tr.appendChild(kinds);

    const slots = cell("", "slots");
    if (typeof worker.free_slots === "number") {
      slots.textContent = String(worker.free_slots);
      if (typeof worker.vm_limit === "number") slots.append(" ", muted("(limit " + worker.vm_limit + ")"));
    }
    tr.appendChild(slots);
    tr.appendChild(cell(worker.kind === "sandbox" ? String(worker.warm_vms) : "", "warm"));

    const load = cell("", "load");
    if (Array.isArray(worker.load) && worker.load.length) {
      load.textContent = worker.load
        .map(function (value) {
          return Number(value).toFixed(2).replace(/\.?0+$/, "");
        })
        .join(" ");
      if (worker.cpus) load.append(" ", muted("(" + worker.cpus + " CPUs)"));
    }
    tr.appendChild(load);

    const memory = cell("", "memory");
    if (typeof worker.memory_available_mib === "number") {
      memory.textContent = worker.memory_available_mib + " MiB";
      if (worker.memory_total_mib) memory.append(" ", muted("of " + worker.memory_total_mib));
    }
    tr.appendChild(memory);
    tr.appendChild(cell(when(worker.started)));
    return tr;
  }

  function render(workers) {
    if (!workers.length) return; // keep the server's "no worker yet" text
    body.replaceChildren.apply(body, workers.map(row));
    if (summary) {
      const alive = workers.filter(function (worker) {
        return worker.alive;
      }).length;
      summary.textContent = alive + " alive of " + workers.length;
    }
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
        const workers = await response.json();
        if (Array.isArray(workers)) render(workers);
      }
    } catch (error) {
      // A dropped connection or a server restart: keep polling.
    }
    window.setTimeout(poll, document.hidden ? 15000 : 3000);
  }

  window.setTimeout(poll, 3000);
})();
