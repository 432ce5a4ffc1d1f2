// Swagger UI for the portal's API (admins; the page and the document need an admin's session). A file of its own,
// not an inline script, so the page's Content-Security-Policy allows scripts from the portal only.
window.addEventListener("load", () => {
  window.ui = window.SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    withCredentials: true,
  });
});
