// Analysis page: live progress while the task runs, process tree expand/collapse, and a
// two-step confirmation on destructive buttons. Text from the server is only ever set with
// textContent, never parsed as HTML.
"use strict";

(function () {
  const FINAL = new Set(["reported", "failed"]);

  function classSafe(value) {
    return String(value).replace(/[^a-z_]/g, "");
  }

  function setAllDetails(open) {
    document.querySelectorAll("#process-tree details").forEach(function (d) {
      d.open = open;
    });
  }

  const expand = document.getElementById("tree-expand");
  const collapse = document.getElementById("tree-collapse");
  if (expand) expand.addEventListener("click", function () { setAllDetails(true); });
  if (collapse) collapse.addEventListener("click", function () { setAllDetails(false); });

  // Destructive forms ask "again?" on the button itself: no native dialog boxes.
  document.querySelectorAll("form.confirm").forEach(function (form) {
    const button = form.querySelector("button[type=submit]");
    let armed = false;
    form.addEventListener("submit", function (event) {
      if (armed) return;
      event.preventDefault();
      armed = true;
      button.dataset.label = button.textContent;
      button.textContent = form.dataset.confirm + " Click again to confirm.";
      setTimeout(function () {
        armed = false;
        button.textContent = button.dataset.label;
      }, 5000);
    });
  });

  const live = document.getElementById("live");
  if (!live || FINAL.has(live.dataset.status)) return;
  const id = live.dataset.taskId;
  const statusText = document.getElementById("live-status");
  const substatus = document.getElementById("live-substatus");
  const progress = document.getElementById("live-progress");
  const badge = document.getElementById("task-status");

  async function poll() {
    try {
      const response = await fetch("/api/v1/tasks/" + encodeURIComponent(id), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.status === 401) {
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
        return;
      }
      if (response.status === 404) {
        statusText.textContent = "deleted";
        return;
      }
      if (response.ok) {
        const task = await response.json();
        statusText.textContent = task.status;
        badge.textContent = task.status;
        badge.className = "badge status-" + classSafe(task.status);
        substatus.textContent = task.substatus || "";
        if (typeof task.progress === "number") {
          progress.value = task.progress;
        } else {
          progress.removeAttribute("value");
        }
        if (FINAL.has(task.status)) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // A dropped connection or a server restart: keep polling.
    }
    window.setTimeout(poll, document.hidden ? 5000 : 1500);
  }

  window.setTimeout(poll, 1000);
})();
