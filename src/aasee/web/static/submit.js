// Submit form: more argument fields on demand, and a busy button while the file uploads.
"use strict";

(function () {
  const MAX_ARGUMENTS = 32;
  const add = document.getElementById("add-argument");
  const box = document.getElementById("arguments");
  if (add && box) {
    add.addEventListener("click", function () {
      const count = box.querySelectorAll("input[name=arg]").length;
      if (count >= MAX_ARGUMENTS) return;
      const input = document.createElement("input");
      input.name = "arg";
      input.maxLength = 1024;
      input.placeholder = "argument " + (count + 1);
      box.insertBefore(input, add);
      input.focus();
    });
  }
  const form = document.getElementById("submit-form");
  const button = document.getElementById("submit-button");
  if (form && button) {
    form.addEventListener("submit", function () {
      button.disabled = true;
      button.textContent = "Uploading…";
    });
  }
})();
