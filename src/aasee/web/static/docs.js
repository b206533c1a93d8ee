// Starts Swagger UI on /api/docs from a static file (the CSP forbids inline scripts).
"use strict";

window.addEventListener("load", function () {
  const root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    withCredentials: true,
  });
});
