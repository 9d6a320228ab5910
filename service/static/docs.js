// Renders /openapi.json with the locally served Swagger UI; no request leaves this service.
window.addEventListener("DOMContentLoaded", () => {
  const target = document.getElementById("swagger");
  window.ui = SwaggerUIBundle({
    url: target.dataset.spec,
    domNode: target,
    validatorUrl: null,
    deepLinking: true,
    tryItOutEnabled: false,
  });
});
